using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// The four-route unrolling of a (B, C, H, W) map for each one-pass <see cref="ScanPattern"/> (official csm_triton.py
/// <c>cross_scan_fwd</c> / <c>cross_merge_fwd</c> with scans = 0, 1, 2): <see cref="Scan"/> gives (B, 4, C, L), L = H·W,
/// and <see cref="Merge"/> sums the routes back onto the map (its adjoint). The cross-scan runs
/// <see cref="CrossScan"/>'s kernels; the others are a repeat and a flip, which autograd differentiates. The cascade is
/// two passes with a normalisation between them and has no single unrolling (SS2D runs it).
/// </summary>
public static class ScanRoutes
{
    public const int Count = 4;

    /// <summary>(B, C, H, W) → (B, 4, C, H·W) along the pattern's routes; differentiable.</summary>
    public static Tensor Scan(Tensor x, ScanPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4)
            throw new ArgumentException($"Argument 'x' has shape {ScanArguments.Fmt(x.shape)}; expected (B, C, H, W).", nameof(x));
        switch (pattern)
        {
            case ScanPattern.Cross: return CrossScan.Scan(x);
            case ScanPattern.Unidirectional:
            {
                using var scope = NewDisposeScope();
                long b = x.shape[0], c = x.shape[1], l = x.shape[2] * x.shape[3];
                return x.reshape(b, 1, c, l).expand(b, Count, c, l).contiguous().MoveToOuterDisposeScope();
            }
            case ScanPattern.Bidirectional:
            {
                using var scope = NewDisposeScope();
                long b = x.shape[0], c = x.shape[1], l = x.shape[2] * x.shape[3];
                var f = x.reshape(b, 1, c, l).expand(b, 2, c, l);
                return cat([f, f.flip(-1)], 1).MoveToOuterDisposeScope();
            }
            default: throw OnePassOnly(pattern);
        }
    }

    /// <summary>(B, 4, C, H·W) → (B, C, H, W): each route's outputs summed back at the pixels they were read from.</summary>
    public static Tensor Merge(Tensor ys, long height, long width, ScanPattern pattern)
    {
        CheckRoutes(ys, height, width);
        switch (pattern)
        {
            case ScanPattern.Cross: return CrossScan.Merge(ys, height, width);
            case ScanPattern.Unidirectional:
            {
                using var scope = NewDisposeScope();
                return ys.sum(1).view(ys.shape[0], ys.shape[2], height, width).MoveToOuterDisposeScope();
            }
            case ScanPattern.Bidirectional:
            {
                using var scope = NewDisposeScope();
                var y = ys.narrow(1, 0, 2).sum(1).Plus(ys.narrow(1, 2, 2).sum(1).flip(-1));
                return y.view(ys.shape[0], ys.shape[2], height, width).MoveToOuterDisposeScope();
            }
            default: throw OnePassOnly(pattern);
        }
    }

    /// <summary>
    /// For route k and sequence position l, the row-major pixel index it reads (a permutation of 0..L−1 per route).
    /// Written straight from the definitions; the slow twins and the attention maps use it.
    /// </summary>
    public static long[][] Sources(ScanPattern pattern, long height, long width)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"expected a positive map size, got {height}×{width}");
        long l = height * width;
        long[] rowMajor = new long[l], columnMajor = new long[l];
        for (long r = 0; r < height; r++)
            for (long q = 0; q < width; q++)
            {
                rowMajor[r * width + q] = r * width + q;
                columnMajor[q * height + r] = r * width + q;      // position w·H + h reads (h, w)
            }
        long[] Rev(long[] a) => a.Reverse().ToArray();
        return pattern switch
        {
            ScanPattern.Cross => [rowMajor, columnMajor, Rev(rowMajor), Rev(columnMajor)],
            ScanPattern.Unidirectional => [rowMajor, rowMajor, rowMajor, rowMajor],
            ScanPattern.Bidirectional => [rowMajor, rowMajor, Rev(rowMajor), Rev(rowMajor)],
            _ => throw OnePassOnly(pattern),
        };
    }

    /// <summary>The slow twin of <see cref="Scan"/>: one index_select per route from <see cref="Sources"/>.</summary>
    public static Tensor ScanReference(Tensor x, ScanPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var flat = x.flatten(2);
        var routes = Sources(pattern, x.shape[2], x.shape[3]).Select(src => flat.index_select(2, tensor(src, device: x.device))).ToArray();
        return stack(routes, 1).MoveToOuterDisposeScope();
    }

    /// <summary>The slow twin of <see cref="Merge"/>: y[p] = Σ_k ys_k[l] over every l whose source is p.</summary>
    public static Tensor MergeReference(Tensor ys, long height, long width, ScanPattern pattern)
    {
        CheckRoutes(ys, height, width);
        using var scope = NewDisposeScope();
        long b = ys.shape[0], c = ys.shape[2];
        var y = zeros(new[] { b, c, height * width }, dtype: ys.dtype, device: ys.device);
        var sources = Sources(pattern, height, width);
        for (int k = 0; k < Count; k++)
            y = y.index_add(2, tensor(sources[k], device: ys.device), ys.select(1, k), Scalars.One);
        return y.view(b, c, height, width).MoveToOuterDisposeScope();
    }

    static ArgumentException OnePassOnly(ScanPattern p) =>
        new($"scan pattern '{p}' is not a one-pass unrolling; expected Cross, Unidirectional or Bidirectional (SS2D runs the cascade itself).", "pattern");

    static void CheckRoutes(Tensor ys, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(ys);
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"expected a positive map size, got {height}×{width}");
        if (ys.dim() != 4 || ys.shape[1] != Count || ys.shape[3] != height * width)
            throw new ArgumentException($"Argument 'ys' has shape {ScanArguments.Fmt(ys.shape)}; expected (B, 4, C, {height * width}) for a {height}×{width} map.", nameof(ys));
    }
}
