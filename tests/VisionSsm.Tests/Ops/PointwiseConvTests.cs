using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class PointwiseConvTests
{
    [Theory]
    [InlineData(1, 8, 16, 3, true)]
    [InlineData(2, 128, 256, 14, true)]
    [InlineData(1, 64, 64, 28, false)]
    [InlineData(3, 5, 7, 7, true)]
    public void GemmProductEqualsTheConvolution(int batch, int cin, int cout, int side, bool bias)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 100 + cin + cout + side);
        using var conv = nn.Conv2d(cin, cout, 1, bias: bias);
        // The input as GambaBlock passes it: one half of a channel split (a view, not contiguous at batch ≥ 2).
        var x = randn(batch, 2 * cin, side, side).narrow(1, cin, cin);
        using var _ = no_grad();
        Assert.Equal(Gemm.MatMulSupported, PointwiseConv.Applies(conv, x));
        var y = PointwiseConv.Apply(conv, x);
        var expected = conv.call(x);
        Assert.Equal(expected.shape, y.shape);
        Assert.True(allclose(y, expected, 1e-4, 1e-5), $"max diff {(y - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void OtherConvolutionsAndTrainingCallTheModule()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 8, 6, 6);
        using var strided = nn.Conv2d(8, 8, 1, stride: 2);
        using var grouped = nn.Conv2d(8, 8, 1, groups: 2);
        using var wide = nn.Conv2d(8, 8, 3, padding: 1);
        using var plain = nn.Conv2d(8, 8, 1);
        Assert.False(PointwiseConv.Applies(plain, x));                                 // autograd on: parameters need grad
        using var _ = no_grad();
        Assert.False(PointwiseConv.Applies(strided, x));
        Assert.False(PointwiseConv.Applies(grouped, x));
        Assert.False(PointwiseConv.Applies(wide, x));
        Assert.True(PointwiseConv.Apply(strided, x).eq(strided.call(x)).all().item<bool>());
        using var conv64 = nn.Conv2d(8, 8, 1);
        conv64.to(ScalarType.Float64);
        Assert.False(PointwiseConv.Applies(conv64, x.to_type(ScalarType.Float64)));
    }
}
