using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Ops;

/// <summary>
/// RoIAlign's C# CPU kernel (float32/float64) with a hand-written backward. Same arithmetic as the gather form of
/// <see cref="RoiAlign"/> (the separable per-axis bin weights), evaluated in place instead of materialising every
/// gathered channel vector: the gather form writes R·P²·Ky·Kx·C values (about 3× the feature pixels the rois cover),
/// which made it slower than needed at Mask R-CNN's training shapes (BENCHMARKS.md, "RoIAlign").
/// Forward: one work item per roi, each bin a double sum over its (row, weight) × (column, weight) lists.
/// Backward: the transpose, scattered into the feature gradient; one work item per channel, so no two threads write
/// the same plane.
/// </summary>
static class RoiAlignCpu
{
    public static bool Applies(Tensor features) =>
        KernelOptions.Current.RoiAlignKernel && features.device_type == DeviceType.CPU
        && (features.dtype == ScalarType.Float32 || features.dtype == ScalarType.Float64);

    /// <summary>Per-roi batch index and the two axes' bin weights, shared by forward and backward.</summary>
    internal sealed record Plan(long[] Batch, RoiAlign.AxisWeights[] Y, RoiAlign.AxisWeights[] X, int OutH, int OutW);

    public static Tensor Apply(Tensor features, Plan plan) =>
        features.requires_grad && is_grad_enabled()
            ? Function.apply(features, plan)
            : Forward(features, plan);

    sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => "RoIAlign";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var x = (Tensor)vars[0];
            var plan = (Plan)vars[1];
            ctx.save_data("plan", plan);
            ctx.save_data("shape", x.shape);
            return Forward(x, plan);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad) =>
            [Backward(grad, (Plan)ctx.get_data("plan"), (long[])ctx.get_data("shape")), null!];
    }

    static unsafe Tensor Forward(Tensor features, Plan plan)
    {
        using var x = features.detach().contiguous();
        long c = x.shape[1], h = x.shape[2], w = x.shape[3];
        int r = plan.Batch.Length;
        var y = empty(new long[] { r, c, plan.OutH, plan.OutW }, dtype: x.dtype);
        if (r == 0) return y;
        if (x.dtype == ScalarType.Float32)
        {
            float* xp = VisionSsm.Ops.SelectiveScanCpu.Ptr<float>(x), yp = VisionSsm.Ops.SelectiveScanCpu.Ptr<float>(y);
            OpenMpTeam.For(0L, r, TorchRuntime.KernelParallelism, i => ForwardRoi(xp, yp, plan, (int)i, c, h, w));
        }
        else
        {
            double* xp = VisionSsm.Ops.SelectiveScanCpu.Ptr<double>(x), yp = VisionSsm.Ops.SelectiveScanCpu.Ptr<double>(y);
            OpenMpTeam.For(0L, r, TorchRuntime.KernelParallelism, i => ForwardRoi(xp, yp, plan, (int)i, c, h, w));
        }
        return y;
    }

    static unsafe Tensor Backward(Tensor grad, Plan plan, long[] shape)
    {
        using var g = grad.contiguous();
        var gx = zeros(shape, dtype: g.dtype);
        long c = shape[1], h = shape[2], w = shape[3];
        if (plan.Batch.Length == 0) return gx;
        if (g.dtype == ScalarType.Float32)
        {
            float* gp = VisionSsm.Ops.SelectiveScanCpu.Ptr<float>(g), xp = VisionSsm.Ops.SelectiveScanCpu.Ptr<float>(gx);
            OpenMpTeam.For(0L, c, TorchRuntime.KernelParallelism, ch => BackwardChannel(gp, xp, plan, ch, c, h, w));
        }
        else
        {
            double* gp = VisionSsm.Ops.SelectiveScanCpu.Ptr<double>(g), xp = VisionSsm.Ops.SelectiveScanCpu.Ptr<double>(gx);
            OpenMpTeam.For(0L, c, TorchRuntime.KernelParallelism, ch => BackwardChannel(gp, xp, plan, ch, c, h, w));
        }
        return gx;
    }

    /// <summary>All channels of roi <paramref name="i"/>: out[i, ch, p, q] = Σ_a Σ_b wy[p, a]·wx[q, b]·x[batch, ch, row_a, col_b].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void ForwardRoi<T>(T* x, T* y, Plan plan, int i, long c, long h, long w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ya = plan.Y[i]; var xa = plan.X[i];
        int ph = plan.OutH, pw = plan.OutW, ky = ya.Width, kx = xa.Width;
        Span<T> wyT = ph * ky <= 1024 ? stackalloc T[ph * ky] : new T[ph * ky];
        Span<T> wxT = pw * kx <= 1024 ? stackalloc T[pw * kx] : new T[pw * kx];
        for (int k = 0; k < wyT.Length; k++) wyT[k] = T.CreateTruncating(ya.Weight[k]);
        for (int k = 0; k < wxT.Length; k++) wxT[k] = T.CreateTruncating(xa.Weight[k]);
        for (long ch = 0; ch < c; ch++)
        {
            T* plane = x + (plan.Batch[i] * c + ch) * h * w;
            T* o = y + ((long)i * c + ch) * ph * pw;
            for (int p = 0; p < ph; p++)
                for (int q = 0; q < pw; q++)
                {
                    T acc = T.Zero;
                    for (int a = 0; a < ky; a++)
                    {
                        T wy = wyT[p * ky + a];
                        if (wy == T.Zero) continue;
                        T* row = plane + ya.Index[p * ky + a] * w;
                        T s = T.Zero;
                        for (int b = 0; b < kx; b++) s += wxT[q * kx + b] * row[xa.Index[q * kx + b]];
                        acc += wy * s;
                    }
                    o[p * pw + q] = acc;
                }
        }
    }

    /// <summary>Channel <paramref name="ch"/> of every roi: gx[batch, ch, row_a, col_b] += wy[p, a]·wx[q, b]·g[i, ch, p, q].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void BackwardChannel<T>(T* g, T* gx, Plan plan, long ch, long c, long h, long w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ph = plan.OutH, pw = plan.OutW;
        for (int i = 0; i < plan.Batch.Length; i++)
        {
            var ya = plan.Y[i]; var xa = plan.X[i];
            int ky = ya.Width, kx = xa.Width;
            T* plane = gx + (plan.Batch[i] * c + ch) * h * w;
            T* gi = g + ((long)i * c + ch) * ph * pw;
            for (int p = 0; p < ph; p++)
                for (int a = 0; a < ky; a++)
                {
                    T wy = T.CreateTruncating(ya.Weight[p * ky + a]);
                    if (wy == T.Zero) continue;
                    T* row = plane + ya.Index[p * ky + a] * w;
                    for (int q = 0; q < pw; q++)
                    {
                        T gv = wy * gi[p * pw + q];
                        for (int b = 0; b < kx; b++) row[xa.Index[q * kx + b]] += T.CreateTruncating(xa.Weight[q * kx + b]) * gv;
                    }
                }
        }
    }
}
