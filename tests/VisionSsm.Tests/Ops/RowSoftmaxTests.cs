using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class RowSoftmaxTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 15)]      // scalar tail only
    [InlineData(2, 16)]
    [InlineData(5, 17)]      // one vector and a one-element tail
    [InlineData(4, 49)]      // side 7
    [InlineData(392, 784)]   // vGamba-B's side-28 row block
    public void EqualsLibtorchSoftmaxInPlace(int rows, int cols)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(rows * 1000 + cols);
        var x = randn(2, rows, cols) * 8;                                   // logits of a few tens: the max shift matters
        var expected = nn.functional.softmax(x, -1);
        Assert.True(RowSoftmax.Supports(x) || !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated);
        var y = RowSoftmax.ApplyInPlace(x);
        Assert.True(allclose(y, expected, 1e-5, 1e-7), $"max diff {(y - expected).abs().max().item<float>()}");
        Assert.True(allclose(y.sum(-1), ones(2, rows), 1e-5, 1e-5));
        if (RowSoftmax.Supports(x)) Assert.True(ReferenceEquals(y, x), "expected the result written over x");
    }

    [Fact]
    public void LargeLogitsDoNotOverflow()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1000f, 999f, -1000f, 0f, 1000f, 3f, 2f, 1f, 0f, -1f, -2f, -3f, -4f, -5f, -6f, -7f, -8f });
        var y = RowSoftmax.ApplyInPlace(x.clone());
        Assert.True(y.isfinite().all().item<bool>());
        Assert.True(allclose(y, nn.functional.softmax(x, -1), 1e-5, 1e-7));
    }

    [Fact]
    public void OtherInputsRunTheTwin()
    {
        using var scope = NewDisposeScope();
        var x64 = randn(3, 20, dtype: ScalarType.Float64);
        Assert.False(RowSoftmax.Supports(x64));
        Assert.True(allclose(RowSoftmax.ApplyInPlace(x64), nn.functional.softmax(x64, -1)));
        var strided = randn(20, 3).t();
        Assert.False(RowSoftmax.Supports(strided));
        var before = strided.clone();
        Assert.True(allclose(RowSoftmax.ApplyInPlace(strided), nn.functional.softmax(before, -1)));
        Assert.True(strided.eq(before).all().item<bool>(), "the twin must not write over its input");
        var leaf = randn(2, 20, requires_grad: true);
        Assert.False(RowSoftmax.Supports(leaf));
        RowSoftmax.ApplyInPlace(leaf).sum().backward();                   // differentiable through the twin
        Assert.NotNull(leaf.grad);
    }
}
