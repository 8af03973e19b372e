using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class RmsNormTests
{
    [Fact]
    public void MatchesTheFormula()
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(3, eps: 1e-5);
        using (no_grad()) norm.Weight.copy_(tensor(new float[] { 1, 2, 0.5f }));
        var x = tensor(new float[] { 1, 2, 2, -3, 0, 4 }).reshape(2, 3);
        var y = norm.call(x);
        // Row 1: mean(x²) = 3 → x / √(3 + 1e-5) · w; row 2: mean = 25/3.
        double s1 = 1 / Math.Sqrt(3 + 1e-5), s2 = 1 / Math.Sqrt(25.0 / 3 + 1e-5);
        var expected = tensor(new float[] { (float)s1, (float)(4 * s1), (float)(s1), (float)(-3 * s2), 0, (float)(2 * s2) }).reshape(2, 3);
        Assert.True(allclose(y, expected, 1e-6, 1e-6));
        Assert.Equal(["weight"], norm.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void HalfInputsAreNormalisedInFloat32AndCastBack()
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(4);
        var x = (randn(2, 4) * 100).to_type(ScalarType.BFloat16);
        var y = norm.call(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        var xf = x.to_type(ScalarType.Float32);
        var expected = xf * rsqrt(xf.square().mean([-1L], keepdim: true) + 1e-5);
        Assert.True(allclose(y.to_type(ScalarType.Float32), expected, 1e-2, 1e-2));
    }

    [Fact]
    public void WrongLastDimensionIsRejected()
    {
        using var norm = new RmsNorm(4);
        var ex = Assert.Throws<ArgumentException>(() => norm.call(zeros(2, 5)));
        Assert.Contains("4", ex.Message);
    }
}
