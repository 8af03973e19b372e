using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// A 1×1 <see cref="Conv2d"/> (stride 1, no padding, one group) on a channel-first map as the channel-major product
/// W (C_out, C_in) · x (batch, C_in, H·W) on <see cref="Gemm.MatMul"/> plus the bias, in float32 inference: libtorch's
/// oneDNN convolution ran these at ~85 GFLOP/s on one thread at vGamba's sizes (`vgamba-mhsa`), the AVX-512 kernel
/// about twice that (on AVX2 the two tie, docs/gemm.md §3). Everything else — autograd, other dtypes or conv
/// settings — calls the module itself (the twin).
/// </summary>
public static class PointwiseConv
{
    /// <summary>conv(x) for x (batch, C_in, H, W); the Gemm product when <see cref="Applies"/>, else the module's forward.</summary>
    public static Tensor Apply(Conv2d conv, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(conv);
        ArgumentNullException.ThrowIfNull(x);
        if (!Applies(conv, x)) return OneDnnPointwiseGuard.Call(conv, x);
        var w = conv.weight!;
        long batch = x.shape[0], cin = w.shape[1], cout = w.shape[0], h = x.shape[2], wd = x.shape[3];
        var y = Gemm.MatMul(w.view(cout, cin), x.reshape(batch, cin, h * wd));          // (B, C_out, H·W)
        if (conv.bias is not null) y.PlusInPlace(conv.bias.view(cout, 1));
        return y.view(batch, cout, h, wd);
    }

    /// <summary>True when <see cref="Apply"/> takes the Gemm product for this module and input.</summary>
    public static bool Applies(Conv2d conv, Tensor x)
    {
        var w = conv.weight;
        if (w is null || w.dim() != 4 || w.shape[2] != 1 || w.shape[3] != 1 || x.dim() != 4 || x.shape[1] != w.shape[1]) return false;
        if (conv.stride.Any(s => s != 1) || (conv.padding ?? []).Any(p => p != 0) || conv.groups != 1 || conv.dilation.Any(d => d != 1)) return false;
        if (conv.bias is not null && (conv.bias.dtype != ScalarType.Float32 || conv.bias.device_type != DeviceType.CPU || (is_grad_enabled() && conv.bias.requires_grad))) return false;
        return Gemm.MatMulApplies(w, x);
    }
}
