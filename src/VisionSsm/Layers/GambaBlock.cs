using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>How a Gamba block mixes its P channels; the rows of the paper's ablation table (Table 5).</summary>
public enum GambaMixer
{
    /// <summary>Halves → cell and MHSA → <see cref="GatedFusion"/> (vGamba; model.py).</summary>
    Fused,
    /// <summary>"Cell + MHSA" without fusion: halves → cell and MHSA → concatenated back to P channels.</summary>
    Concatenated,
    /// <summary>"MHSA only": all P channels through one MHSA (a BoTNet block with registers).</summary>
    MhsaOnly,
    /// <summary>"Cell only": all P channels through one Gamba cell.</summary>
    CellOnly,
}

/// <summary>
/// vGamba's Gamba bottleneck mixer (model.py <c>GambaBlock</c>, docs/models/vgamba.md §2): x[:, :c] → <c>ggnn</c>
/// (<see cref="GambaCell"/>), x[:, c:] → <c>mhsa</c> (<see cref="BotMhsa2d"/>, 4 heads, 1 register token),
/// fused by <c>gating</c> (<see cref="GatedFusion"/>) to P channels; c = P/2. Other <see cref="GambaMixer"/>s give the
/// ablation rows; their sub-modules keep these names.
/// </summary>
public sealed class GambaBlock : Module<Tensor, Tensor>
{
    public GambaMixer Mixer { get; }
    public int Planes { get; }

    private readonly GambaCell? ggnn;
    private readonly BotMhsa2d? mhsa;
    private readonly GatedFusion? gating;

    public GambaBlock(int planes, int side, GambaMixer mixer = GambaMixer.Fused, GambaCellOptions? cell = null,
        int heads = 4, int registerTokens = 1, bool scaleAttention = false) : base(nameof(GambaBlock))
    {
        if (planes % 2 != 0) throw new ArgumentException($"planes {planes} must be even (split in halves).", nameof(planes));
        Mixer = mixer;
        Planes = planes;
        int half = planes / 2;
        if (mixer != GambaMixer.MhsaOnly) ggnn = new GambaCell(mixer == GambaMixer.CellOnly ? planes : half, side, cell);
        if (mixer != GambaMixer.CellOnly) mhsa = new BotMhsa2d(mixer == GambaMixer.MhsaOnly ? planes : half, side, heads, registerTokens, scaleAttention);
        if (mixer == GambaMixer.Fused) gating = new GatedFusion(half, planes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => UsesInterOp(x) ? ForwardConcurrent(x) : ForwardSerial(x);

    /// <summary>
    /// Inference with the cores shared out between whole branches (<see cref="InterOpParallel"/>) rather than op by op:
    /// with gradients off, ≥ 2 threads, on the CPU.
    /// </summary>
    internal bool UsesInterOp(Tensor x) => InterOpParallel.Available &&
        x.device_type == DeviceType.CPU && (x.shape[0] >= 2 || Mixer is GambaMixer.Fused or GambaMixer.Concatenated);

    /// <summary>
    /// The same function as <see cref="ForwardSerial"/>, computed as two concurrent halves: a batch of ≥ 2 is split in
    /// two and each half goes through the whole mixer; a single image runs its branches side by side — the cell's
    /// Mamba beside the MHSA with its fusion term σ(W_g b')·b' and the cell's context mask (the fusion terms are
    /// independent until their sum; docs/models/vgamba.md §2).
    /// </summary>
    internal Tensor ForwardConcurrent(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        if (n >= 2)
        {
            long h = (n + 1) / 2;
            var (first, second) = InterOpParallel.Run(() => ForwardSerial(x.narrow(0, 0, h)), () => ForwardSerial(x.narrow(0, h, n - h)));
            return cat([first, second], dim: 0).MoveToOuterDisposeScope();
        }
        // One image: the cell's Mamba mixer (the long pole) on one worker, the MHSA with its fusion term on the other, the
        // cell's context mask on whichever is lighter (beside the MHSA up to 16×16 tokens: at side 28 the MHSA's Np²
        // logits make it as long as the Mamba); then m ⊙ mask, the cell's reshape and its fusion term here.
        var halves = x.chunk(2, dim: 1);
        var t = ggnn!.Sequence(halves[0]);
        bool maskBesideMhsa = (long)ggnn.Side * ggnn.Side <= 256;
        var (cellPart, mhsaPart) = InterOpParallel.Run(
            () => WithMask(ggnn.Mix(t), maskBesideMhsa ? null : ggnn.Mask(t)),
            () => WithMask(gating is null ? mhsa!.call(halves[1]) : gating.GatedB(mhsa!.call(halves[1])), maskBesideMhsa ? ggnn.Mask(t) : null));
        var mask = cellPart.Length > 1 ? cellPart[1] : mhsaPart.Length > 1 ? mhsaPart[1] : null;
        var a = ggnn.Output(cellPart[0], mask);
        return (gating is null ? cat([a, mhsaPart[0]], dim: 1) : gating.GatedA(a, mhsaPart[0])).MoveToOuterDisposeScope();
    }

    static Tensor[] WithMask(Tensor y, Tensor? mask) => mask is null ? [y] : [y, mask];

    /// <summary>The mixer op by op on the calling thread (model.py's order); the reference for <see cref="ForwardConcurrent"/>.</summary>
    internal Tensor ForwardSerial(Tensor x)
    {
        if (Mixer == GambaMixer.MhsaOnly) return mhsa!.call(x);
        if (Mixer == GambaMixer.CellOnly) return ggnn!.call(x);
        using var scope = NewDisposeScope();
        var halves = x.chunk(2, dim: 1);
        var a = ggnn!.call(halves[0]);
        var b = mhsa!.call(halves[1]);
        var y = gating is null ? cat([a, b], dim: 1) : gating.call(a, b);
        return y.MoveToOuterDisposeScope();
    }
}
