using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// y (…, N, L) = W (N, K) · x (…, K, L), or per group W (G, N, K) · x (…, G, K, L) — <c>torch.matmul</c>'s result for
/// these shapes — with a backward on our channel-major GEMM (<see cref="Gemm.MatMul"/>): dx = Wᵀ·dy there, and
/// dW = Σ dy·xᵀ (a long reduction over L with few outputs) on libtorch. This is SS2D's x_proj and dt_projs in training
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
                var perBatch = matmul(grad, x.transpose(-1, -2));                      // (…, [G,] N, K)
                long leading = perBatch.dim() - weight.dim();
                dw = (leading > 0 ? perBatch.sum(Enumerable.Range(0, (int)leading).Select(i => (long)i).ToArray()) : perBatch)
                    .MoveToOuterDisposeScope();
            }
            foreach (var t in s) t.Dispose();
            return [dw, dx];
        }
    }
}
