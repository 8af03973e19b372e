using TorchSharp;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// The selective scan written as a matrix (VMamba §3 "Activation Map Visualization", Eq. 13; Mamba-2's "SSM as a
/// matrix"): for channel d, <c>y = M x + D ⊙ x</c> (then · SiLU(z) when gated) with
/// <c>M[t, s] = Σ_n C[n, t] · exp(Σ_{k=s+1..t} Δ_k A[d, n]) · Δ_s B[n, s]</c> for s ≤ t and 0 above the diagonal
/// (Δ = softplus(δ + bias)). The decay is the exponential of a segment sum of Δ·A, built with Mamba-2's
/// <c>segsum</c> (a masked cumulative sum), never as a ratio of cumulative products, which overflows on long
/// sequences. Everything is computed in float64 (docs/analysis.md "Implicit attention of the scan").
/// </summary>
public static class ScanMatrix
{
    /// <summary>seg[…, t, s] = Σ_{k=s+1..t} x[…, k] for t ≥ s (0 on the diagonal), −∞ above it; x (…, L) → (…, L, L).</summary>
    public static Tensor SegmentSums(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        long l = x.shape[^1];
        using var strictlyLower = ones(l, l, dtype: ScalarType.Bool, device: x.device).tril(-1);
        using var lower = ones(l, l, dtype: ScalarType.Bool, device: x.device).tril(0);
        var shape = x.shape.Append(l).ToArray();
        // xe[…, t, s] = x_t, kept only below the diagonal (t > s); the cumulative sum down t gives Σ_{s<k≤t} x_k exactly.
        var xe = x.unsqueeze(-1).expand(shape).masked_fill(strictlyLower.logical_not(), Scalars.Zero);
        var seg = xe.cumsum(-2).masked_fill(lower.logical_not(), Scalars.NegativeInfinity);
        return seg.MoveToOuterDisposeScope();
    }

    /// <summary>Δ = softplus(δ + bias) (as the scan computes it) of batch item <paramref name="batch"/>, channels
    /// [<paramref name="start"/>, +<paramref name="count"/>), float64 (count, L).</summary>
    public static Tensor Delta(CapturedScan s, long batch, long start, long count)
    {
        using var scope = NewDisposeScope();
        var dt = s.Delta[batch].narrow(0, start, count).to(ScalarType.Float64);
        if (s.DeltaBias is not null) dt = dt.Plus(s.DeltaBias.narrow(0, start, count).to(ScalarType.Float64).unsqueeze(-1));
        if (s.DeltaSoftplus) dt = nn.functional.softplus(dt, beta: 1, threshold: 20);
        return dt.MoveToOuterDisposeScope();
    }

    /// <summary>B or C of batch item <paramref name="batch"/> for channels [start, +count): (count, N, L) float64; channel d
    /// reads group d / (D/G) when B/C are grouped (batch, G, N, L).</summary>
    static Tensor PerChannel(Tensor bc, long channels, long batch, long start, long count)
    {
        using var scope = NewDisposeScope();
        var item = bc[batch].to(ScalarType.Float64);                        // (N, L) or (G, N, L)
        if (item.dim() == 2) return item.unsqueeze(0).expand(count, -1, -1).MoveToOuterDisposeScope();
        long perGroup = channels / item.shape[0];
        var groups = tensor(Enumerable.Range(0, checked((int)count)).Select(i => (start + i) / perGroup).ToArray());
        return item.index_select(0, groups).MoveToOuterDisposeScope();
    }

    /// <summary>M of channels [start, +count) of batch item <paramref name="batch"/>: (count, L, L) float64, zero above the diagonal.</summary>
    public static Tensor Channels(CapturedScan s, long batch, long start, long count)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (batch < 0 || batch >= s.Batch) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"expected 0..{s.Batch - 1}");
        if (start < 0 || count < 1 || start + count > s.Channels)
            throw new ArgumentOutOfRangeException(nameof(count), $"channels [{start}, {start + count}) outside 0..{s.Channels}");
        using var scope = NewDisposeScope();
        var dt = Delta(s, batch, start, count);                                   // (c, L)
        var a = s.A.narrow(0, start, count).to(ScalarType.Float64);               // (c, N)
        var b = PerChannel(s.B, s.Channels, batch, start, count);                 // (c, N, L)
        var c = PerChannel(s.C, s.Channels, batch, start, count);
        var decay = SegmentSums(dt.unsqueeze(1) * a.unsqueeze(-1)).exp_();        // (c, N, L, L): exp(Σ_{s<k≤t} Δ_k A), 0 above
        var m = (c.unsqueeze(-1) * decay * (dt.unsqueeze(1) * b).unsqueeze(-2)).sum(1);   // Σ_n C_t · decay · Δ_s B_s
        return m.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The mean of M over channels [start, +count) (L, L) float64, in chunks that keep the (chunk, N, L, L) temporaries
    /// near 64 MB. <paramref name="progress"/> receives the number of channels done.
    /// </summary>
    public static Tensor Mean(CapturedScan s, long batch, long start, long count, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        long chunk = ChunkChannels(s), l = s.Length;
        var sum = zeros(new[] { l, l }, dtype: ScalarType.Float64);
        for (long d = 0; d < count; d += chunk)
        {
            long c = Math.Min(chunk, count - d);
            using (var scope = NewDisposeScope())
                sum.PlusInPlace(Channels(s, batch, start + d, c).sum(0L));
            progress?.Invoke(d + c);
        }
        return sum.OverInPlace(count);
    }

    /// <summary>Channels per chunk so that one chunk's (chunk, N, L, L) float64 temporaries stay near 64 MB.</summary>
    static long ChunkChannels(CapturedScan s) => Math.Max(1, (8L << 20) / Math.Max(1, s.States * s.Length * s.Length));

    /// <summary>
    /// How much the scan mixes positions, relative to its skip: ‖y − D ⊙ u‖ and ‖D ⊙ u‖ over the whole call (both
    /// times SiLU(z) when gated), i.e. the norms of <c>M u</c> and <c>D u</c> (docs/analysis.md "Implicit attention of
    /// the scan"). A small ratio means the block acts almost pixel by pixel, whatever its routes.
    /// </summary>
    public static (double Mixing, double Skip) MixingNorms(CapturedScan s)
    {
        ArgumentNullException.ThrowIfNull(s);
        using var scope = NewDisposeScope();
        var u = s.U.to(ScalarType.Float64);
        var skip = s.D is null ? zeros_like(u) : s.D.to(ScalarType.Float64).view(1, -1, 1) * u;
        if (s.Z is not null) skip = skip * nn.functional.silu(s.Z.to(ScalarType.Float64));
        var mixing = s.Y.to(ScalarType.Float64) - skip;
        return (mixing.norm().item<double>(), skip.norm().item<double>());
    }

    /// <summary>
    /// Reconstructs the scan's output of batch item <paramref name="batch"/> from M: <c>M u + D ⊙ u</c>, times SiLU(z)
    /// when the scan was gated. (batch item) (D, L) float64; equals <see cref="CapturedScan.Y"/> up to rounding.
    /// </summary>
    public static Tensor Reconstruct(CapturedScan s, long batch)
    {
        ArgumentNullException.ThrowIfNull(s);
        using var scope = NewDisposeScope();
        var u = s.U[batch].to(ScalarType.Float64);                                // (D, L)
        long chunk = ChunkChannels(s);
        var parts = new List<Tensor>();
        for (long d = 0; d < s.Channels; d += chunk)
        {
            long c = Math.Min(chunk, s.Channels - d);
            using var inner = NewDisposeScope();
            var m = Channels(s, batch, d, c);                                     // (c, L, L)
            parts.Add(matmul(m, u.narrow(0, d, c).unsqueeze(-1)).squeeze(-1).MoveToOuterDisposeScope());
        }
        var y = cat(parts, 0);
        if (s.D is not null) y = y.Plus(s.D.to(ScalarType.Float64).unsqueeze(-1) * u);
        if (s.Z is not null) y = y * nn.functional.silu(s.Z[batch].to(ScalarType.Float64));
        return y.MoveToOuterDisposeScope();
    }
}
