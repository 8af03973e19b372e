using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class BiCausalConvTests
{
    static (Tensor W, Tensor B, Tensor Wb, Tensor Bb) ConvParams(long di, int k) =>
        (randn(di, 1, k), randn(di), randn(di, 1, k), randn(di));

    [Theory]
    [InlineData(1, 1, 8, 4)]
    [InlineData(1, 5, 16, 4)]
    [InlineData(2, 13, 24, 4)]
    [InlineData(1, 197, 64, 4)]
    [InlineData(3, 9, 72, 4)]     // Di 72: a partial 64-channel chunk
    [InlineData(2, 17, 8, 2)]
    [InlineData(1, 3, 8, 6)]      // kernel longer than the sequence
    public void PrepareEqualsItsTensorOpTwin(int batch, int length, int di, int k)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k);
        var xz = randn(batch, length, 2 * di);
        var (w, b, wb, bb) = ConvParams(di, k);
        Assert.True(BiCausalConv.Supports(xz, di));
        var (u, z) = BiCausalConv.Prepare(xz, w, b, wb, bb);
        var (uRef, zRef) = BiCausalConv.PrepareReference(xz, w, b, wb, bb);
        Assert.Equal([(long)batch, 2 * di, length], u.shape);
        Assert.True(allclose(u, uRef, 1e-5, 1e-5), $"u differs by {(u - uRef).abs().max().item<float>()}");
        Assert.True(z.eq(zRef).all().item<bool>());
    }

    [Theory]
    [InlineData(1, 1, 8, 4)]
    [InlineData(1, 784, 256, 4)]  // vGamba-B layer3.0 cell: L 784, Di 256
    [InlineData(2, 13, 24, 4)]
    [InlineData(3, 9, 72, 4)]     // a partial 64-channel chunk
    [InlineData(1, 3, 8, 6)]      // kernel longer than the sequence
    public void OneDirectionEqualsItsTensorOpTwinAndTheForwardHalf(int batch, int length, int di, int k)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k + 7);
        var xz = randn(batch, length, 2 * di);
        var (w, b, wb, bb) = ConvParams(di, k);
        var (u, z) = BiCausalConv.Prepare(xz, w, b);
        var (uRef, zRef) = BiCausalConv.PrepareReference(xz, w, b);
        Assert.Equal([(long)batch, di, length], u.shape);
        Assert.Equal([(long)batch, di, length], z.shape);
        Assert.True(u.is_contiguous() && z.is_contiguous());
        Assert.True(allclose(u, uRef, 1e-5, 1e-5), $"u differs by {(u - uRef).abs().max().item<float>()}");
        Assert.True(z.eq(zRef).all().item<bool>());
        // The forward half of the two-direction output is the same function.
        var (u2, z2) = BiCausalConv.Prepare(xz, w, b, wb, bb);
        Assert.True(u.eq(u2.narrow(1, 0, di)).all().item<bool>());
        Assert.True(z.eq(z2.narrow(1, 0, di)).all().item<bool>());
    }

    [Fact]
    public void PrepareMatchesTheConvolutionWrittenOut()
    {
        // u[c, t] = silu(b + Σ_j w[j]·x[t-K+1+j]) forward; the backward half convolves the reversed sequence, so its
        // first output sees only the last token and its last output the whole (reversed) window ending at token 0.
        using var scope = NewDisposeScope();
        const int di = 8, l = 6, k = 4;
        var xz = randn(1, l, 2 * di);
        var (w, b, wb, bb) = ConvParams(di, k);
        var (u, z) = BiCausalConv.Prepare(xz, w, b, wb, bb);
        double Silu(double v) => v / (1 + Math.Exp(-v));
        double X(int t, int c) => xz[0, t, c].item<float>();
        for (int c = 0; c < di; c++)
        {
            double f3 = b[c].item<float>();
            for (int j = 0; j < k; j++) f3 += w[c, 0, j].item<float>() * X(3 - k + 1 + j, c);
            Assert.Equal(Silu(f3), u[0, c, 3].item<float>(), 4);
            double b0 = bb[c].item<float>() + wb[c, 0, k - 1].item<float>() * X(l - 1, c);
            Assert.Equal(Silu(b0), u[0, di + c, 0].item<float>(), 4);
            double b5 = bb[c].item<float>();
            for (int j = 0; j < k; j++) b5 += wb[c, 0, j].item<float>() * X(l - 1 - (5 - k + 1 + j), c);
            Assert.Equal(Silu(b5), u[0, di + c, 5].item<float>(), 4);
            Assert.Equal(X(2, di + c), z[0, c, 2].item<float>());
            Assert.Equal(X(l - 1 - 2, di + c), z[0, di + c, 2].item<float>());
        }
    }

    [Theory]
    [InlineData(1, 1, 8, 0.5)]
    [InlineData(2, 13, 16, 0.5)]
    [InlineData(1, 197, 24, 1.0)]
    [InlineData(3, 8, 4, 0.5)]
    public void MergeEqualsItsTensorOpTwin(int batch, int length, int di, double scale)
    {
        using var scope = NewDisposeScope();
        var y = randn(batch, 2 * di, length);
        var merged = BiCausalConv.Merge(y, scale);
        Assert.True(allclose(merged, BiCausalConv.MergeReference(y, scale), 1e-6, 1e-6));
        // Written out: out[c, t] = scale · (y[c, t] + y[Di + c, L-1-t]).
        Assert.Equal(scale * (y[0, 1, 0].item<float>() + y[0, di + 1, length - 1].item<float>()), merged[0, 1, 0].item<float>(), 5);
    }

    [Fact]
    public void OtherDtypesRunTheTwin()
    {
        using var scope = NewDisposeScope();
        var xz = randn(2, 7, 16, dtype: ScalarType.Float64);
        var w = randn(8, 1, 4, dtype: ScalarType.Float64);
        Assert.False(BiCausalConv.Supports(xz, 8));
        var (u, _) = BiCausalConv.Prepare(xz, w, null, w, null);
        Assert.True(u.eq(BiCausalConv.PrepareReference(xz, w, null, w, null).U).all().item<bool>());
    }

    [Fact]
    public void BadShapesNameTheArgument()
    {
        using var scope = NewDisposeScope();
        var (w, b, wb, bb) = ConvParams(8, 4);
        var ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Prepare(randn(1, 5, 15), w, b, wb, bb));
        Assert.Equal("xz", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Prepare(randn(1, 5, 18), w, b, wb, bb));
        Assert.Equal("weight", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Prepare(randn(1, 5, 16), w, b, randn(8, 1, 3), bb));
        Assert.Equal("weightB", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Prepare(randn(1, 5, 16), w, b, null, bb));
        Assert.Equal("biasB", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Prepare(randn(1, 5, 18), w, b));
        Assert.Equal("weight", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => BiCausalConv.Merge(randn(1, 7, 5), 0.5));
        Assert.Equal("y", ex.ParamName);
    }
}
