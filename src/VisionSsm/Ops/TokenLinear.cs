using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// <c>nn.functional.linear</c> (y = x·Wᵀ + b over the last dim of token-major x) with forward and backward on
/// <see cref="RowMajorGemm"/>: y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x, db = Σ dy. Used by VMamba's Linear2d layer on the
/// channels-last view, where MKL's AVX2 path dominated the training step of the small-image models (`gemm --train`:
/// 1.7× over vmamba_nano's Linear2d shapes). Float32 CPU with K and N multiples of 16 and AVX-512 or AVX2 + FMA; each of
/// the three products runs on our kernel or libtorch's mm as <see cref="Runtime.KernelOptions.Choice"/> decides (measured per
/// shape class by default). Everything else — and <see cref="Runtime.KernelOptions.Gemm"/> off or the choice forced to
/// libtorch — calls libtorch's linear, the twin.
/// </summary>
public static class TokenLinear
{
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (!Applies(x, weight, bias)) return nn.functional.linear(x, weight, bias);
        long k = weight.shape[1], n = weight.shape[0];
        var outShape = x.shape.ToArray();
        outShape[^1] = n;
        using var x2 = x.reshape(-1, k);
        bool needGrad = is_grad_enabled() && (x.requires_grad || weight.requires_grad || (bias?.requires_grad ?? false));
        using var y2 = needGrad ? LinearFunction.apply(x2, weight, bias!) : Forward(x2, weight, bias);
        return y2.view(outShape);
    }

    /// <summary>True when <see cref="Apply"/> runs the C# kernels (see the class summary).</summary>
    public static bool Applies(Tensor x, Tensor weight, Tensor? bias)
    {
        var options = Runtime.KernelOptions.Current;
        if (!options.Gemm || options.Choice == Runtime.KernelChoice.Libtorch || !RowMajorGemm.KernelSupported || weight.dim() != 2 || x.dim() < 1 || x.shape[^1] != weight.shape[1]) return false;
        if (weight.shape[0] % 16 != 0 || weight.shape[1] % 16 != 0 || weight.shape[0] == 0 || weight.shape[1] == 0) return false;
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0])) return false;
        foreach (var t in new[] { x, weight, bias })
            if (t is not null && (t.dtype != ScalarType.Float32 || t.device_type != DeviceType.CPU)) return false;
        return true;
    }

    /// <summary>y (T, N) = x (T, K)·Wᵀ + b.</summary>
    static Tensor Forward(Tensor x2, Tensor weight, Tensor? bias)
    {
        using var wt = weight.t().contiguous();                        // (K, N): B of the product, small
        return RowMajorGemm.Product(x2, wt, bias: bias);
    }

    sealed class LinearFunction : autograd.SingleTensorFunction<LinearFunction>
    {
        public override string Name => nameof(TokenLinear);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var x2 = ((Tensor)vars[0]).contiguous();
            var weight = (Tensor)vars[1];
            var bias = vars[2] as Tensor;
            ctx.save_for_backward([x2, weight]);
            ctx.save_data("bias", bias is not null);
            using (no_grad()) return Forward(x2, weight, bias);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var s = ctx.get_saved_variables();
            var (x2, weight) = (s[0], s[1]);
            using var dy = grad.is_contiguous() ? grad.alias() : grad.contiguous();
            var dx = RowMajorGemm.Product(dy, weight);                           // (T, K) = dy·W
            var dw = RowMajorGemm.Product(dy, x2, transposeA: true);             // (N, K) = dyᵀ·x
            var db = (bool)ctx.get_data("bias") ? dy.sum(0L) : null;
            foreach (var t in s) t.Dispose();
            return [dx, dw, db!];
        }
    }
}
