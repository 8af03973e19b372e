using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>Weight initialisers shared by the model families.</summary>
public static class WeightInit
{
    /// <summary>
    /// timm's <c>trunc_normal_(std)</c> with its absolute cut-offs a = −2, b = 2. TorchSharp 0.107's
    /// <c>init.trunc_normal_</c> returns a near-constant tensor (std ≈ 1e-9 measured), so this draws N(0, std²) and
    /// redraws the values outside [a, b] (none in practice for std 0.02: the cut is at 100σ).
    /// </summary>
    public static void TruncNormal(Tensor t, double std, double a = -2, double b = 2)
    {
        using var _ = no_grad();
        t.normal_(0, std);
        for (int i = 0; i < 100; i++)
        {
            using var outside = t.lt(a).logical_or_(t.gt(b));
            if (!outside.any().item<bool>()) return;
            using var fresh = empty_like(t).normal_(0, std);
            t.copy_(where(outside, fresh, t));
        }
        t.clamp_(a, b);
    }
}
