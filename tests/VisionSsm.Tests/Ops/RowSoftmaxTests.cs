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
        Assert.True(RowSoftmax.Supports(x) || !RowSoftmax.KernelSupported);
        var y = RowSoftmax.ApplyInPlace(x);
        Assert.True(allclose(y, expected, 1e-5, 1e-7), $"max diff {(y - expected).abs().max().item<float>()}");
        Assert.True(allclose(y.sum(-1), ones(2, rows), 1e-5, 1e-5));
        if (RowSoftmax.Supports(x)) Assert.True(ReferenceEquals(y, x), "expected the result written over x");
    }

    /// <summary>Both widths of the kernel (the 256-bit rows are what AVX2-only CPUs run) against libtorch's softmax.</summary>
    [SkippableTheory]
    [InlineData(true, 3, 7)]
    [InlineData(true, 5, 33)]
    [InlineData(false, 3, 7)]
    [InlineData(false, 5, 33)]
    [InlineData(false, 392, 784)]
    public void BothWidthsEqualLibtorchSoftmax(bool wide, int rows, int cols)
    {
        if (wide) Hardware.RequireAvx512(); else Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(rows + cols);
        var x = randn(2, rows, cols) * 8;
        var expected = nn.functional.softmax(x, -1);
        var y = RowSoftmax.ApplyInPlace(x, null, 0, 0, wide);
        Assert.True(allclose(y, expected, 1e-5, 1e-7), $"max diff {(y - expected).abs().max().item<float>()}");
    }

    /// <summary>The position-biased form: row i of a block starting at <c>firstRow</c> gets pos[i / side] +
    /// pos[side + i % side] (written out here element by element), at both widths, against libtorch's softmax of the
    /// explicitly biased logits; and the twin (<see cref="RowSoftmax.Reference(Tensor, Tensor?, int, long)"/>) likewise.</summary>
    [SkippableTheory]
    [InlineData(true, 3, 0, 9)]
    [InlineData(true, 5, 7, 17)]
    [InlineData(false, 3, 0, 9)]
    [InlineData(false, 5, 7, 17)]
    [InlineData(false, 28, 392, 392)]
    public void PositionBiasMatchesExplicitSum(bool wide, int side, int firstRow, int rows)
    {
        if (wide) Hardware.RequireAvx512(); else Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(side * 100 + firstRow);
        int cols = side * side;
        rows = Math.Min(rows, cols - firstRow);
        var x = randn(2, 3, rows, cols) * 4;
        var pos = randn(2, 3, 2 * side, cols) * 4;
        var bias = zeros(2, 3, rows, cols);
        for (int i = 0; i < rows; i++)
        {
            int g = firstRow + i;
            bias[.., .., i] = pos[.., .., g / side] + pos[.., .., side + g % side];
        }
        var expected = nn.functional.softmax(x + bias, -1);
        var twin = RowSoftmax.Reference(x, pos, side, firstRow);
        Assert.True(allclose(twin, expected, 1e-6, 1e-8), $"twin: {(twin - expected).abs().max().item<float>()}");
        var y = RowSoftmax.ApplyInPlace(x, pos, side, firstRow, wide);
        Assert.True(ReferenceEquals(y, x), "expected the result written over x");
        Assert.True(allclose(y, expected, 1e-5, 1e-7), $"kernel: {(y - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void BadPositionShapesAreRejected()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 9);
        Assert.Throws<ArgumentException>(() => RowSoftmax.ApplyInPlace(x, randn(2, 5, 9), 3));           // 2·side rows expected
        Assert.Throws<ArgumentException>(() => RowSoftmax.ApplyInPlace(x, randn(3, 6, 9), 3));           // leading sizes differ
        Assert.Throws<ArgumentOutOfRangeException>(() => RowSoftmax.ApplyInPlace(x, randn(2, 6, 9), 3, 6));   // rows 6..9 of 9
        Assert.Throws<ArgumentOutOfRangeException>(() => RowSoftmax.ApplyInPlace(x, randn(2, 0, 9), 0));
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
