using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// VMamba's cross-scan and cross-merge (docs/models/vmamba.md §6 steps 3 and 6; csm_triton.py <c>cross_scan_fwd</c> /
/// <c>cross_merge_fwd</c>, scans = 0). The scan unrolls a (B, C, H, W) map into four sequences (B, 4, C, L), L = H·W:
/// k0 row-major (index h·W + w), k1 column-major (index w·H + h), k2 = k0 reversed, k3 = k1 reversed.
/// The merge sums the four routes back onto the map. The two are adjoint linear maps, so each is the other's
/// backward (<c>CrossScanF</c> / <c>CrossMergeF</c>); merge(scan(x)) = 4x.
/// Channels-last float32 maps (SS2D's layout) run <see cref="CrossScanCpu"/>'s one-pass kernels, whose merge returns
/// a channels-last map; every other input runs a handful of whole-tensor libtorch copies (strided copy, transpose,
/// flip). The index-list twins are the slow references.
/// </summary>
public static class CrossScan
{
    /// <summary>(B, C, H, W) → (B, 4, C, H·W), differentiable (its backward is <see cref="Merge"/>).</summary>
    public static Tensor Scan(Tensor x)
    {
        CheckMap(x);
        return NeedsGrad(x) ? ScanFunction.apply(x) : ScanKernel(x);
    }

    /// <summary>(B, 4, C, H·W) → (B, C, H, W), differentiable (its backward is <see cref="Scan"/>).</summary>
    public static Tensor Merge(Tensor ys, long height, long width)
    {
        CheckRoutes(ys, height, width);
        return NeedsGrad(ys) ? MergeFunction.apply(ys, height, width) : MergeKernel(ys, height, width);
    }

    /// <summary>Whether autograd must record the call; otherwise the kernels run without a Function (its apply costs
    /// tens of µs per call, a visible share of a small map's SS2D).</summary>
    static bool NeedsGrad(Tensor t) => is_grad_enabled() && t.requires_grad;

    /// <summary>The fast forward of the scan, without autograd bookkeeping.</summary>
    internal static Tensor ScanKernel(Tensor x)
    {
        if (CrossScanCpu.SupportsMap(x)) return CrossScanCpu.Scan(x);
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], l = h * w;
        var xs = empty(new[] { b, 4, c, l }, dtype: x.dtype, device: x.device);
        using var scope = NewDisposeScope();
        // One strided copy per forward route (any input strides, e.g. channels-last), then one flip for k2, k3.
        xs.select(1, 0).view(b, c, h, w).copy_(x);
        xs.select(1, 1).view(b, c, w, h).copy_(x.transpose(2, 3));
        xs.narrow(1, 2, 2).copy_(xs.narrow(1, 0, 2).flip(-1));
        return xs;
    }

    /// <summary>The fast forward of the merge, without autograd bookkeeping.</summary>
    internal static Tensor MergeKernel(Tensor ys, long height, long width)
    {
        if (CrossScanCpu.SupportsRoutes(ys)) return CrossScanCpu.Merge(ys, height, width);
        using var scope = NewDisposeScope();
        long b = ys.shape[0], c = ys.shape[2];
        // (k0 + flip k2) is already row-major; (k1 + flip k3) is column-major and is read transposed once.
        var halves = ys.narrow(1, 0, 2).Plus(ys.narrow(1, 2, 2).flip(-1));          // (B, 2, C, L)
        var y = halves.select(1, 0).view(b, c, height, width).Plus(halves.select(1, 1).view(b, c, width, height).transpose(2, 3));
        return y.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The slow, obviously-correct twin of <see cref="Scan"/>: gathers with index lists written straight from the
    /// formulas of docs/models/vmamba.md §6 step 3. For tests.
    /// </summary>
    public static Tensor ScanReference(Tensor x)
    {
        CheckMap(x);
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3];
        var flat = x.flatten(2);
        var routes = RouteSources(h, w).Select(src => flat.index_select(2, tensor(src, device: x.device))).ToArray();
        return stack(routes, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The slow twin of <see cref="Merge"/>: y[p] = Σ_k ys_k[l] over every l whose source is p (docs/models/vmamba.md §6 step 6).
    /// </summary>
    public static Tensor MergeReference(Tensor ys, long height, long width)
    {
        CheckRoutes(ys, height, width);
        using var scope = NewDisposeScope();
        long b = ys.shape[0], c = ys.shape[2];
        var y = zeros(new[] { b, c, height * width }, dtype: ys.dtype, device: ys.device);
        var sources = RouteSources(height, width);
        for (int k = 0; k < 4; k++)
            y = y.index_add(2, tensor(sources[k], device: ys.device), ys.select(1, k), Scalars.One);
        return y.view(b, c, height, width).MoveToOuterDisposeScope();
    }

    /// <summary>For each route k and sequence position l, the row-major map index it reads.</summary>
    static long[][] RouteSources(long h, long w)
    {
        long l = h * w;
        var k0 = new long[l];
        var k1 = new long[l];
        for (long r = 0; r < h; r++)
            for (long q = 0; q < w; q++)
            {
                k0[r * w + q] = r * w + q;          // row-major
                k1[q * h + r] = r * w + q;          // column-major: position w·H + h reads (h, w)
            }
        var k2 = k0.Reverse().ToArray();
        var k3 = k1.Reverse().ToArray();
        return [k0, k1, k2, k3];
    }

    static void CheckMap(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4)
            throw new ArgumentException($"Argument 'x' has shape {ScanArguments.Fmt(x.shape)}; expected (B, C, H, W).", nameof(x));
    }

    static void CheckRoutes(Tensor ys, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(ys);
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"expected a positive map size, got {height}×{width}");
        if (ys.dim() != 4 || ys.shape[1] != 4 || ys.shape[3] != height * width)
            throw new ArgumentException($"Argument 'ys' has shape {ScanArguments.Fmt(ys.shape)}; expected (B, 4, C, {height * width}) for a {height}×{width} map.", nameof(ys));
    }

    /// <summary>Autograd: the scan's backward is the merge (CrossScanF).</summary>
    sealed class ScanFunction : autograd.SingleTensorFunction<ScanFunction>
    {
        public override string Name => "CrossScan";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var x = (Tensor)vars[0];
            ctx.save_data("h", x.shape[2]);
            ctx.save_data("w", x.shape[3]);
            return ScanKernel(x);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad) =>
            [MergeKernel(grad, (long)ctx.get_data("h"), (long)ctx.get_data("w"))];
    }

    /// <summary>Autograd: the merge's backward is the scan (CrossMergeF).</summary>
    sealed class MergeFunction : autograd.SingleTensorFunction<MergeFunction>
    {
        public override string Name => "CrossMerge";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var ys = (Tensor)vars[0];
            long h = (long)vars[1], w = (long)vars[2];
            return MergeKernel(ys, h, w);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad) =>
            [ScanKernel(grad), null!, null!];
    }
}
