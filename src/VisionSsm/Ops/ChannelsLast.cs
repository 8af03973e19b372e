using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Channels-last storage for (B, C, H, W) tensors. TorchSharp has no <c>memory_format</c>, but libtorch honours the
/// strides: <c>x.permute(0,2,3,1).contiguous().permute(0,3,1,2)</c> keeps the logical NCHW shape with NHWC storage
/// (docs/architecture.md §6: depthwise convs run several times faster this way, and channel LayerNorm and 1×1
/// projections become plain last-dimension ops without copies).
/// </summary>
public static class ChannelsLast
{
    /// <summary>True when the (B, C, H, W) tensor is stored as contiguous (B, H, W, C).</summary>
    public static bool Is(Tensor x)
    {
        if (x.dim() != 4) return false;
        using var nhwc = x.permute(0, 2, 3, 1);
        return nhwc.is_contiguous();
    }

    /// <summary>The same values with channels-last storage; returns an alias when already so.</summary>
    public static Tensor To(Tensor x)
    {
        if (x.dim() != 4)
            throw new ArgumentException($"Argument 'x' has shape {ScanArguments.Fmt(x.shape)}; expected (B, C, H, W).", nameof(x));
        if (Is(x)) return x.alias();
        using var nhwc = x.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }
}
