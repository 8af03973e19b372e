using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests;

/// <summary>Comparing a float32 result of summed products against its float64 reference.</summary>
public static class Float32Sums
{
    /// <summary>
    /// Asserts equal shapes and max |actual − expected| within a float32 rounding bound for sums of
    /// <paramref name="terms"/> products: 2e-5·√terms, scaled up by the reference's magnitude per √terms when larger.
    /// </summary>
    public static void AssertClose(Tensor expected, Tensor actual, long terms)
    {
        Assert.Equal(expected.shape, actual.shape);
        double tol = 2e-5 * Math.Sqrt(terms) * Math.Max(1, expected.abs().max().item<double>() / Math.Sqrt(terms));
        double err = (actual.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(err <= tol, $"max |Δ| = {err:E2} > {tol:E2}");
    }
}
