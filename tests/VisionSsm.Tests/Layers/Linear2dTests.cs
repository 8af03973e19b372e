using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class Linear2dTests
{
    [Theory]
    [InlineData(3, 5, true)]      // GEMM path
    [InlineData(20, 17, true)]    // 1×1 conv path (channels-last, > 256 positions)
    [InlineData(20, 17, false)]
    public void Linear2d_equals_a_per_pixel_matrix_product_in_both_paths(int h, int w, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        var layer = new Linear2d(6, 10);
        layer.to(ScalarType.Float64);
        var x = randn(2, 6, h, w, dtype: ScalarType.Float64);
        if (channelsLast) x = ChannelsLast.To(x);
        var p = layer.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);
        Assert.Equal([10L, 6], p["weight"].shape);                                 // stored 2-D (out, in), docs/models/vmamba.md §2
        var expected = einsum("oc,bchw->bohw", p["weight"], x) + p["bias"].view(1, -1, 1, 1);
        Assert.True(allclose(layer.call(x), expected, rtol: 1e-12, atol: 1e-12));
    }

    [Fact]
    public void Linear2d_gradients_match_finite_differences_on_the_conv_path()
    {
        using var scope = NewDisposeScope();
        var layer = new Linear2d(3, 4);
        layer.to(ScalarType.Float64);
        var x = randn(1, 3, 17, 16, dtype: ScalarType.Float64);   // contiguous: the helper perturbs a flat view
        Assert.All(Gradcheck.MaxRelativeError(t => layer.call(ChannelsLast.To(t[0])), [x], maxElements: 16), e => Assert.True(e < 1e-7, $"{e}"));
    }

    [Fact]
    public void LayerNorm2d_normalises_each_pixel_over_channels()
    {
        using var scope = NewDisposeScope();
        var ln = new LayerNorm2d(5);
        ln.to(ScalarType.Float64);
        var x = randn(2, 5, 3, 4, dtype: ScalarType.Float64);
        var mean = x.mean([1], keepdim: true);
        var variance = (x - mean).pow(2).mean([1], keepdim: true);
        Assert.True(allclose(ln.call(x), (x - mean) / sqrt(variance + 1e-5), rtol: 1e-12, atol: 1e-12));
        Assert.True(allclose(ln.call(ChannelsLast.To(x)), (x - mean) / sqrt(variance + 1e-5), rtol: 1e-12, atol: 1e-12));
    }
}
