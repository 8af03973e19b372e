using TorchSharp;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// The implicit attention of SS2D's cascade pattern (VMamba Table 5; <c>SS2D.Cascade</c>): two scan calls, one over
/// the rows (S = H sequences of length W; route 0 forward, route 1 on the flipped row) and one over the columns of the
/// layer-normalised row result (S = W sequences of length H; routes 2 and 3). Each route is a linear map of its own
/// pass's input, so its matrix is exact; the two passes compose through the normalisation between them, whose
/// per-pixel division by σ is linear and kept, and whose subtraction of the channel mean is a shift common to all
/// channels and left out. docs/analysis.md "Implicit attention of the scan" gives the definitions. Images of batch 1.
/// </summary>
public static class CascadeAttention
{
    /// <summary>layer_norm's ε of the normalisation between the passes (<c>F.layer_norm</c> default).</summary>
    const double Eps = 1e-5;

    /// <summary>
    /// Route <paramref name="route"/> (0–3) as the channel mean of its M (D skip excluded, as for the one-pass
    /// patterns) in row-major pixel order (P, P): routes 0 and 1 are block-diagonal over the rows, 2 and 3 over the
    /// columns. <paramref name="rows"/> and <paramref name="cols"/> are the mixer's two captured calls.
    /// </summary>
    public static Tensor RouteMean(CapturedScan rows, CapturedScan cols, int route, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(cols);
        if (route is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(route), route, "expected a route 0..3");
        var (h, w, di) = Shape(rows, cols);
        var s = route < 2 ? rows : cols;
        long local = route % 2;
        using var scope = NewDisposeScope();
        var lines = new List<Tensor>();
        for (long seq = 0; seq < s.Batch; seq++)
        {
            var m = ScanMatrix.Mean(s, seq, local * di, di);                            // (L, L) in scan order
            lines.Add(local == 1 ? m.flip(0, 1) : m);                                    // backward: position t is pixel L−1−t
            progress?.Invoke(seq + 1);
        }
        var blocks = stack(lines, 0);                                                    // rows (H, W, W) / cols (W, H, H)
        var map = route < 2
            ? einsum("rcx,rq->rcqx", blocks, eye(h, dtype: ScalarType.Float64))          // [(r, c), (r, c')] = M_r[c, c']
            : einsum("crq,cx->rcqx", blocks, eye(w, dtype: ScalarType.Float64));         // [(r, c), (r', c)] = M_c[r, r']
        return map.reshape((long)h * w, (long)h * w).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each channel's pass matrix including both routes' D skips, within a line in pixel order: for the row call
    /// (count, H, W, W) with [d, r, c, c'] the weight of u(r, c') in the pass output at (r, c); for the column call
    /// (count, W, H, H) with [d, c, r, r'].
    /// </summary>
    internal static Tensor PassMatrices(CapturedScan s, long di, long start, long count)
    {
        using var scope = NewDisposeScope();
        long l = s.Length;
        using var identity = eye(l, dtype: ScalarType.Float64);
        var skip = s.D is null ? zeros(count, dtype: ScalarType.Float64)
            : s.D.narrow(0, start, count).to(ScalarType.Float64).Plus(s.D.narrow(0, di + start, count).to(ScalarType.Float64));
        var lines = new List<Tensor>();
        for (long seq = 0; seq < s.Batch; seq++)
        {
            var forward = ScanMatrix.Channels(s, seq, start, count);
            var backward = ScanMatrix.Channels(s, seq, di + start, count).flip(1, 2);
            lines.Add(forward.Plus(backward).Plus(skip.view(-1, 1, 1) * identity));
        }
        return stack(lines, 1).MoveToOuterDisposeScope();
    }

    /// <summary>The row pass's output per channel (Di, H, W) (backward route flipped back) and, per pixel, the mean
    /// and σ over channels that the normalisation before the column pass uses ((H, W) each).</summary>
    internal static (Tensor Rows, Tensor Mean, Tensor Sigma) RowOutput(CapturedScan rows, long di)
    {
        using var scope = NewDisposeScope();
        var y = rows.Y.to(ScalarType.Float64);                                           // (H, 2Di, W)
        var sum = y.narrow(1, 0, di).Plus(y.narrow(1, di, di).flip(-1)).permute(1, 0, 2); // (Di, H, W)
        var mean = sum.mean([0L]);
        var sigma = sum.var(0, unbiased: false).PlusScalar(Eps).sqrt();
        return (sum.MoveToOuterDisposeScope(), mean.MoveToOuterDisposeScope(), sigma.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The composite of the two passes for channels [start, +count), (count, H, W, H, W): [d, r, c, r', c'] =
    /// cols_d[c, r, r'] · (1/σ[r', c]) · rows_d[r', c, c'] — the weight of the row pass's input at (r', c') in the
    /// column pass's output at (r, c), both passes' D skips included. The path goes through the one pixel (r', c), so
    /// there is no sum.
    /// </summary>
    internal static Tensor Composite(CapturedScan rows, CapturedScan cols, long start, long count)
    {
        var (_, _, di) = Shape(rows, cols);
        using var scope = NewDisposeScope();
        var rowM = PassMatrices(rows, di, start, count);                                // (c, H, W, W)
        var colM = PassMatrices(cols, di, start, count);                                // (c, W, H, H)
        var (_, _, sigma) = RowOutput(rows, di);
        var t = einsum("dcrq,qc,dqcx->drcqx", colM, sigma.reciprocal(), rowM);
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>The channel mean of <see cref="Composite"/> as a (P, P) matrix in row-major pixel order, in chunks of
    /// channels. <paramref name="progress"/> receives the number of channels done.</summary>
    public static Tensor CompositeMean(CapturedScan rows, CapturedScan cols, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(cols);
        var (h, w, di) = Shape(rows, cols);
        long p = (long)h * w;
        // One chunk's (chunk, H, W, H, W) float64 composite stays near 64 MB.
        long chunk = Math.Max(1, (8L << 20) / (p * p));
        var sum = zeros(new[] { p, p }, dtype: ScalarType.Float64);
        for (long d = 0; d < di; d += chunk)
        {
            long c = Math.Min(chunk, di - d);
            using (NewDisposeScope()) sum.PlusInPlace(Composite(rows, cols, d, c).sum(0L).reshape(p, p));
            progress?.Invoke(d + c);
        }
        return sum.OverInPlace(di);
    }

    /// <summary>(H, W, Di) of a cascade mixer from its row call (H, 2Di, W) and column call (W, 2Di, H).</summary>
    static (int H, int W, long Di) Shape(CapturedScan rows, CapturedScan cols)
    {
        long h = rows.Batch, w = rows.Length;
        if (cols.Batch != w || cols.Length != h || rows.Channels != cols.Channels || rows.Channels % 2 != 0)
            throw new ArgumentException($"not the row and column calls of one cascade SS2D: rows {ScanArguments.Fmt(rows.U.shape)}, " +
                                        $"columns {ScanArguments.Fmt(cols.U.shape)}; expected (H, 2Di, W) and (W, 2Di, H).", nameof(cols));
        return ((int)h, (int)w, rows.Channels / 2);
    }
}
