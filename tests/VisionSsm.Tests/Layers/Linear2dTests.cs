using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Ops;
using VisionSsm.Runtime;
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

    /// <summary>
    /// Float32 on large channels-last maps, where the layer picks the GEMM (choice Ours) or the 1×1 conv (choice
    /// Libtorch): both sides give the output and the input, weight and bias gradients of the per-pixel product
    /// computed in float64.
    /// </summary>
    [Theory]
    [InlineData(17, 16, 16, 32, KernelChoice.Ours)]
    [InlineData(17, 16, 16, 32, KernelChoice.Libtorch)]
    [InlineData(20, 20, 32, 16, KernelChoice.Ours)]
    [InlineData(20, 20, 32, 16, KernelChoice.Libtorch)]
    [InlineData(24, 11, 48, 48, KernelChoice.Ours)]
    [InlineData(24, 11, 48, 48, KernelChoice.Libtorch)]
    public void Linear2d_float32_gemm_and_conv_sides_match_the_float64_product_and_its_gradients(int h, int w, int cin, int cout, KernelChoice choice)
    {
        using var scope = NewDisposeScope();
        using var kernels = KernelOptions.Use(KernelOptions.Current with { Choice = choice });
        var layer = new Linear2d(cin, cout);
        using (no_grad()) layer.named_parameters().First(kv => kv.name == "bias").parameter.uniform_(-1, 1);
        var x64 = randn(2, cin, h, w, dtype: ScalarType.Float64);
        var x = ChannelsLast.To(x64.to(ScalarType.Float32)).requires_grad_(true);
        var p = layer.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);
        var gy64 = randn(2, cout, h, w, dtype: ScalarType.Float64);
        var y = layer.call(x);
        y.backward([ChannelsLast.To(gy64.to(ScalarType.Float32))]);

        var w64 = p["weight"].detach().to(ScalarType.Float64).requires_grad_(true);
        var b64 = p["bias"].detach().to(ScalarType.Float64).requires_grad_(true);
        var xr = x64.detach().requires_grad_(true);
        var expected = einsum("oc,bchw->bohw", w64, xr) + b64.view(1, -1, 1, 1);
        expected.backward([gy64]);
        void Close(Tensor actual, Tensor reference, string what) =>
            Assert.True(allclose(actual.to(ScalarType.Float64), reference, rtol: 1e-4, atol: 1e-4), $"{what} differs ({choice})");
        Close(y, expected, "output");
        Close(x.grad!, xr.grad!, "input gradient");
        Close(p["weight"].grad!, w64.grad!, "weight gradient");
        Close(p["bias"].grad!, b64.grad!, "bias gradient");
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
