namespace VisionSsm.Ops;

/// <summary>
/// How the CPU kernel cuts one selective-scan call into work: channel blocks of one SIMD vector (W lanes = W
/// channels, vectorised over D so any N works, docs/selective-scan.md §5.1) that never straddle a B or C group, and time chunks
/// whose end states are the only states kept for the backward (docs/selective-scan.md §4: the CUDA kernel's chunking).
/// A work unit is one (batch, block) pair; it runs the whole sequence of its W channels.
/// </summary>
internal sealed class ScanPlan
{
    public int Batch { get; }
    public int Channels { get; }
    public int Length { get; }
    public int States { get; }
    public int GroupsB { get; }
    public int GroupsC { get; }
    public bool HasD { get; }
    public bool HasZ { get; }
    public bool HasBias { get; }
    public bool Softplus { get; }
    /// <summary>Time steps per chunk (a multiple of 8).</summary>
    public int Chunk { get; }
    public int Chunks { get; }
    public int Blocks => BlockStart.Length;
    public int Units => Batch * Blocks;
    public int[] BlockStart { get; }
    public int[] BlockCount { get; }

    public ScanPlan(ScanArguments a, int width)
    {
        Batch = checked((int)a.Batch);
        Channels = checked((int)a.Channels);
        Length = checked((int)a.Length);
        States = checked((int)a.States);
        GroupsB = checked((int)a.GroupsB);
        GroupsC = checked((int)a.GroupsC);
        HasD = a.D is not null;
        HasZ = a.Z is not null;
        HasBias = a.DeltaBias is not null;
        Softplus = a.DeltaSoftplus;
        Chunk = ChunkLength(States);
        Chunks = Math.Max(1, (Length + Chunk - 1) / Chunk);

        // A segment of gcd(D/G_B, D/G_C) channels lies inside one B group and one C group.
        int segment = Gcd(Channels / GroupsB, Channels / GroupsC);
        var start = new List<int>();
        var count = new List<int>();
        for (int s0 = 0; s0 < Channels; s0 += segment)
            for (int c = 0; c < segment; c += width)
            {
                start.Add(s0 + c);
                count.Add(Math.Min(width, segment - c));
            }
        BlockStart = [.. start];
        BlockCount = [.. count];
    }

    /// <summary>
    /// Chunk length: about 256 (step, state) pairs per chunk so the backward's per-chunk buffers (h and exp(ΔA) of
    /// the chunk) stay in L1/L2, at least 16 steps, at most 256. Saved states are then L·N/Chunk per channel.
    /// </summary>
    static int ChunkLength(int states) => Math.Clamp((256 / states + 7) / 8 * 8, 16, 256);

    public int GroupOfB(int block) => BlockStart[block] / (Channels / GroupsB);
    public int GroupOfC(int block) => BlockStart[block] / (Channels / GroupsC);

    static int Gcd(int a, int b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
