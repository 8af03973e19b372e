using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class BiCausalConvChannelMajorTests
{
    [Theory]
    [InlineData(1, 1, 8, 4)]
    [InlineData(1, 5, 3, 4)]      // Di not a multiple of 8
    [InlineData(2, 13, 24, 4)]
    [InlineData(1, 16, 40, 4)]    // L exactly one vector
    [InlineData(1, 197, 64, 4)]   // vectors + a 5-step tail
    [InlineData(3, 33, 72, 2)]
    [InlineData(1, 3, 8, 6)]      // kernel longer than the sequence
    public void PrepareEqualsTheTokenMajorTwin(int batch, int length, int di, int k)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k);
        var xzT = randn(batch, 2 * di, length);
        var (w, b, wb, bb) = (randn(di, 1, k), randn(di), randn(di, 1, k), randn(di));
        var (u, z) = BiCausalConvChannelMajor.Prepare(xzT, w, b, wb, bb);
        var (uRef, zRef) = BiCausalConv.PrepareReference(xzT.transpose(1, 2), w, b, wb, bb);
        Assert.Equal([(long)batch, 2 * di, length], u.shape);
        Assert.True(allclose(u, uRef, 1e-5, 1e-5), $"u differs by {(u - uRef).abs().max().item<float>()}");
        Assert.True(z.eq(zRef).all().item<bool>());
        var (uNoBias, _) = BiCausalConvChannelMajor.Prepare(xzT, w, null, wb, null);
        var (uRefNoBias, _) = BiCausalConv.PrepareReference(xzT.transpose(1, 2), w, null, wb, null);
        Assert.True(allclose(uNoBias, uRefNoBias, 1e-5, 1e-5));
    }

    [Theory]
    [InlineData(1, 1, 8, 4)]
    [InlineData(2, 13, 24, 4)]
    [InlineData(1, 784, 256, 4)]  // vGamba-B layer3.0 cell: L 784, Di 256
    [InlineData(3, 33, 5, 2)]
    public void OneDirectionEqualsTheTokenMajorTwinAndTheForwardHalf(int batch, int length, int di, int k)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k + 3);
        var xzT = randn(batch, 2 * di, length);
        var (w, b, wb, bb) = (randn(di, 1, k), randn(di), randn(di, 1, k), randn(di));
        var (u, z) = BiCausalConvChannelMajor.Prepare(xzT, w, b);
        var (uRef, zRef) = BiCausalConv.PrepareReference(xzT.transpose(1, 2), w, b);
        Assert.Equal([(long)batch, di, length], u.shape);
        Assert.Equal([(long)batch, di, length], z.shape);
        Assert.True(allclose(u, uRef, 1e-5, 1e-5), $"u differs by {(u - uRef).abs().max().item<float>()}");
        Assert.True(z.eq(zRef).all().item<bool>());
        var (u2, _) = BiCausalConvChannelMajor.Prepare(xzT, w, b, wb, bb);
        Assert.True(u.eq(u2.narrow(1, 0, di)).all().item<bool>());
    }

    [SkippableTheory]
    [InlineData(1, 197, 64, 4)]   // 24 eight-step vectors + a 5-step tail
    [InlineData(2, 13, 24, 4)]
    [InlineData(1, 8, 8, 4)]      // L exactly one 8-step vector
    [InlineData(1, 3, 8, 6)]      // kernel longer than the sequence
    public void EightStepVectorsEqualTheTokenMajorTwin(int batch, int length, int di, int k)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k + 7);
        var xzT = randn(batch, 2 * di, length);
        var (w, b, wb, bb) = (randn(di, 1, k), randn(di), randn(di, 1, k), randn(di));
        var (u, z) = BiCausalConvChannelMajor.Prepare(xzT, w, b, wb, bb, wide: false);
        var (uRef, zRef) = BiCausalConv.PrepareReference(xzT.transpose(1, 2), w, b, wb, bb);
        Assert.True(allclose(u, uRef, 1e-5, 1e-5), $"u differs by {(u - uRef).abs().max().item<float>()}");
        Assert.True(z.eq(zRef).all().item<bool>());
    }

    [Fact]
    public void PrepareMatchesTheConvolutionWrittenOut()
    {
        // u[c, t] = silu(b + Σ_j w[j]·x[t-K+1+j]) forward; backward: the same over the reversed sequence.
        using var scope = NewDisposeScope();
        const int di = 3, l = 20, k = 4;
        var xzT = randn(1, 2 * di, l);
        var (w, b, wb, bb) = (randn(di, 1, k), randn(di), randn(di, 1, k), randn(di));
        var (u, z) = BiCausalConvChannelMajor.Prepare(xzT, w, b, wb, bb);
        double Silu(double v) => v / (1 + Math.Exp(-v));
        double X(int c, int t) => t < 0 ? 0 : xzT[0, c, t].item<float>();
        for (int c = 0; c < di; c++)
            foreach (int t in new[] { 0, 2, 15, 17, 19 })
            {
                double f = b[c].item<float>(), r = bb[c].item<float>();
                for (int j = 0; j < k; j++)
                {
                    int s = t - k + 1 + j;
                    f += w[c, 0, j].item<float>() * X(c, s);
                    r += wb[c, 0, j].item<float>() * (s < 0 ? 0 : X(c, l - 1 - s));
                }
                Assert.Equal(Silu(f), u[0, c, t].item<float>(), 4);
                Assert.Equal(Silu(r), u[0, di + c, t].item<float>(), 4);
                Assert.Equal(X(di + c, t), z[0, c, t].item<float>());
                Assert.Equal(X(di + c, l - 1 - t), z[0, di + c, t].item<float>());
            }
    }

    [Fact]
    public void Float64TakesTheTwinAndBadShapesAreRejected()
    {
        using var scope = NewDisposeScope();
        var xzT = randn(1, 16, 9, dtype: ScalarType.Float64);
        var (w, b) = (randn(8, 1, 4, dtype: ScalarType.Float64), randn(8, dtype: ScalarType.Float64));
        var (u, _) = BiCausalConvChannelMajor.Prepare(xzT, w, b, w, b);
        var (uRef, _) = BiCausalConv.PrepareReference(xzT.transpose(1, 2), w, b, w, b);
        Assert.True(allclose(u, uRef, 1e-12, 1e-12));
        Assert.Equal("xzT", Assert.Throws<ArgumentException>(() => BiCausalConvChannelMajor.Prepare(randn(1, 15, 9), randn(7, 1, 4), null, randn(7, 1, 4), null)).ParamName);
        Assert.Throws<ArgumentException>(() => BiCausalConvChannelMajor.Prepare(randn(1, 16, 9), randn(7, 1, 4), null, randn(7, 1, 4), null));
    }
}
