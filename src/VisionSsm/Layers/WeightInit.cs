using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>Weight initialisers shared by the model families.</summary>
public static class WeightInit
{
    /// <summary>
    /// timm's <c>trunc_normal_(std)</c> with its absolute cut-offs a = −2, b = 2. TorchSharp 0.107's
    /// <c>init.trunc_normal_</c> returns a near-constant tensor (std ≈ 1e-9 measured), so this draws N(0, std²) and
    /// redraws the values outside [a, b] (none in practice for std 0.02: the cut is at 100σ).
    /// The bounds are explicit, disposed-at-the-end Scalars rather than implicit conversions: TorchSharp 0.107 frees
    /// an implicit temporary Scalar in its finalizer, which a GC on another thread can run while the native call
    /// still reads it ("Unknown scalar type" was seen here once; README "Known issues").
    /// </summary>
    public static void TruncNormal(Tensor t, double std, double a = -2, double b = 2)
    {
        using var _ = no_grad();
        using var low = a.ToScalar();
        using var high = b.ToScalar();
        t.normal_(0, std);
        for (int i = 0; i < 100; i++)
        {
            using var below = t.lt(low);
            using var above = t.gt(high);
            using var outside = below.logical_or_(above);
            if (!outside.any().item<bool>()) return;
            using var fresh = empty_like(t).normal_(0, std);
            t.copy_(where(outside, fresh, t));
        }
        t.clamp_(low, high);
    }
}
