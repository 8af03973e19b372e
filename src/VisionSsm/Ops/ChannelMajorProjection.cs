using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// y (…, N, L) = W (N, K) · x (…, K, L), or per group W (G, N, K) · x (…, G, K, L) — <c>torch.matmul</c>'s result for
/// these shapes — with a backward on our GEMMs: dx = Wᵀ·dy on the channel-major <see cref="Gemm.MatMul"/>, and
/// dW = Σ dy·xᵀ (a long reduction over the batch's L with few outputs) on <see cref="Gemm.Linear"/>. This is SS2D's x_proj and dt_projs in training
/// (four routes as groups, K or N as small as 2–8), where libtorch's broadcast matmul and its backward cost about a
/// tenth of VMamba-T's step, and Mamba's x_proj and dt_proj on channel-major activations (Vim, vGamba's cell). Without gradients this is <see cref="Gemm.MatMul"/>; where the kernel cannot run (not
/// float32 on the CPU, <see cref="KernelOptions.Gemm"/> off, <see cref="KernelOptions.Choice"/> forced to libtorch)
/// it is <c>torch.matmul</c> with libtorch's autograd, its slow twin.
/// </summary>
public static class ChannelMajorProjection
{
    public static Tensor Apply(Tensor weight, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(x);
        bool needGrad = is_grad_enabled() && (weight.requires_grad || x.requires_grad);
        if (!needGrad) return Gemm.MatMul(weight, x);
        if (!Applies(weight, x)) return Gemm.MatMulReference(weight, x);
        return Function.apply(weight, x);
    }

    /// <summary>True when a product with gradients runs on our kernels: float32 CPU tensors, a CPU with the
    /// channel-major kernels, <see cref="KernelOptions.Gemm"/> on and the choice not forced to libtorch.</summary>
    public static bool Applies(Tensor weight, Tensor x)
    {
        var options = KernelOptions.Current;
        return options.Gemm && options.Choice != KernelChoice.Libtorch && Gemm.MatMulSupported
            && weight.dtype == ScalarType.Float32 && x.dtype == ScalarType.Float32
            && weight.device_type == DeviceType.CPU && x.device_type == DeviceType.CPU;
    }

    /// <summary>
    /// dW = Σ over x's leading dims of dy·xᵀ: per group one product over the batch laid end to end along L,
    /// (N, S·L)·(K, S·L)ᵀ on <see cref="Gemm.Linear"/>, whose rows are contiguous along that reduction. Against
    /// libtorch's batched matmul and a sum over the batch: 1.5× at Vim-S's x_proj and dt_proj (batch 4, one thread).
    /// </summary>
    static Tensor WeightGradient(Tensor weight, Tensor x, Tensor grad)
    {
        bool grouped = weight.dim() == 3;
        long k = x.shape[^2], l = x.shape[^1], n = grad.shape[^2];
        long leading = x.dim() - (grouped ? 3 : 2);
        if (leading == 0) return grouped ? matmul(grad, x.transpose(-1, -2)) : mm(grad, x.t());
        if (!grouped)
        {
            using var x3 = x.reshape(-1, k, l);
            using var g3 = grad.reshape(-1, n, l);
            using var xp = x3.permute(1, 0, 2).reshape(k, -1);                          // (K, S·L)
            using var gp = g3.permute(1, 0, 2).reshape(n, -1);                          // (N, S·L)
            return Gemm.Linear(gp, xp);
        }
        long groups = weight.shape[0];
        using var x4 = x.reshape(-1, groups, k, l);
        using var g4 = grad.reshape(-1, groups, n, l);
        using var xg = x4.permute(1, 2, 0, 3).reshape(groups, k, -1);                   // (G, K, S·L)
        using var gg = g4.permute(1, 2, 0, 3).reshape(groups, n, -1);                   // (G, N, S·L)
        var perGroup = new Tensor[groups];
        for (int i = 0; i < groups; i++) perGroup[i] = Gemm.Linear(gg[i], xg[i]);
        var dw = stack(perGroup);
        foreach (var t in perGroup) t.Dispose();
        return dw;
    }

    sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => nameof(ChannelMajorProjection);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var weight = (Tensor)vars[0];
            var x = (Tensor)vars[1];
            ctx.save_for_backward([weight, x]);
            using (no_grad()) return Gemm.MatMul(weight, x);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var s = ctx.get_saved_variables();
            var (weight, x) = (s[0], s[1]);
            Tensor dx, dw;
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                using var wt = weight.transpose(-1, -2).contiguous();                  // (…, K, N)
                dx = Gemm.MatMul(wt, grad).MoveToOuterDisposeScope();                  // (…, K, L) = Wᵀ·dy
                dw = WeightGradient(weight, x, grad).MoveToOuterDisposeScope();
            }
            foreach (var t in s) t.Dispose();
            return [dw, dx];
        }
    }
}
