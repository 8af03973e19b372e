using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class ChannelGateTests
{
    [Theory]
    [InlineData(1, 4, 1, 1, true, false)]
    [InlineData(1, 8, 7, 7, true, true)]       // 49 positions: 6 vectors and a scalar tail
    [InlineData(2, 24, 14, 14, false, true)]
    [InlineData(1, 16, 28, 28, true, true)]    // 784 positions: three full 256-position tiles and a partial one
    [InlineData(3, 5, 3, 5, true, false)]      // 15 positions: one vector and a tail
    public void KernelEqualsItsTensorOpTwin(int batch, int p, int h, int w, bool bias, bool addend)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + p * 10 + h + w);
        var x = randn(batch, p, h, w);
        var weight = randn(1, p, 1, 1) * 0.5;
        var b = bias ? randn(1) : null;
        var add = addend ? randn(batch, p, h, w) : null;
        Assert.True(ChannelGate.Supports(x));
        var y = ChannelGate.Apply(x, weight, b, add);
        var reference = ChannelGate.ApplyReference(x, weight, b, add);
        Assert.Equal(x.shape, y.shape);
        Assert.True(allclose(y, reference, 1e-5, 1e-6), $"max diff {(y - reference).abs().max().item<float>()}");
    }

    [Fact]
    public void MatchesTheGateWrittenOut()
    {
        // y[c, i, j] = σ(b + Σ_k w[k]·x[k, i, j])·x[c, i, j] + add[c, i, j], at a position in the scalar tail and one in a vector.
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var x = randn(1, 3, 3, 3);
        var weight = randn(1, 3, 1, 1);
        var bias = randn(1);
        var add = randn(1, 3, 3, 3);
        var y = ChannelGate.Apply(x, weight, bias, add);
        foreach (var (i, j) in new[] { (0, 1), (2, 2) })
        {
            double g = bias[0].item<float>();
            for (int k = 0; k < 3; k++) g += weight[0, k, 0, 0].item<float>() * x[0, k, i, j].item<float>();
            double s = 1 / (1 + Math.Exp(-g));
            for (int c = 0; c < 3; c++)
            {
                double expected = s * x[0, c, i, j].item<float>() + add[0, c, i, j].item<float>();
                Assert.True(Math.Abs(y[0, c, i, j].item<float>() - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"y[{c}, {i}, {j}] vs {expected}");
            }
        }
    }

    [Fact]
    public void OtherDtypesRunTheTwinAndBadShapesNameTheArgument()
    {
        using var scope = NewDisposeScope();
        var x64 = randn(1, 4, 2, 2, dtype: ScalarType.Float64);
        var w64 = randn(1, 4, 1, 1, dtype: ScalarType.Float64);
        Assert.False(ChannelGate.Supports(x64));
        Assert.True(ChannelGate.Apply(x64, w64, null).eq(ChannelGate.ApplyReference(x64, w64, null)).all().item<bool>());
        var x = randn(1, 4, 2, 2);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => ChannelGate.Apply(randn(4, 2, 2), randn(1, 4, 1, 1), null)).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => ChannelGate.Apply(x, randn(1, 3, 1, 1), null)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => ChannelGate.Apply(x, randn(1, 4, 1, 1), randn(2))).ParamName);
        Assert.Equal("addend", Assert.Throws<ArgumentException>(() => ChannelGate.Apply(x, randn(1, 4, 1, 1), null, randn(1, 4, 2, 3))).ParamName);
    }
}
