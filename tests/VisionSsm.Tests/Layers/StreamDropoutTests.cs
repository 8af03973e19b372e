using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class StreamDropoutTests
{
    [Fact]
    public void ChannelDropoutZeroesWholeMapsAndScalesTheRest()
    {
        using var scope = NewDisposeScope();
        using var drop = new StreamDropout(0.5, channels: true);
        drop.train();
        var x = rand(6, 8, 3, 4, dtype: ScalarType.Float64) + 1;   // no zeros in the input
        using var g = new Generator(7);
        using (RandomStream.Use(g))
        {
            var y = drop.forward(x);
            var ratio = (y / x).reshape(48, 12);
            // Each (sample, channel) map is all 0 or all 1/(1 − p) = 2.
            for (int i = 0; i < 48; i++)
            {
                double lo = ratio[i].min().item<double>(), hi = ratio[i].max().item<double>();
                Assert.True(lo == hi && (Math.Abs(lo) < 1e-12 || Math.Abs(lo - 2) < 1e-12), $"map {i}: ratios {lo}…{hi}");
            }
            long dropped = ratio.select(1, 0).eq(0).sum().item<long>();
            Assert.InRange(dropped, 1, 47);   // p = 0.5 over 48 maps: all-or-none has probability 2^-47
        }
        drop.eval();
        Assert.True(drop.forward(x).eq(x).all().item<bool>());
    }

    [Fact]
    public void MasksComeFromTheThreadsStreamAndRepeat()
    {
        using var scope = NewDisposeScope();
        using var drop = new StreamDropout(0.3);
        drop.train();
        var x = ones(1000, dtype: ScalarType.Float64);
        Tensor Draw(ulong seed)
        {
            using var g = new Generator(seed);
            using var _ = RandomStream.Use(g);
            return drop.forward(x);
        }
        var a = Draw(1);
        Assert.True(a.eq(Draw(1)).all().item<bool>());
        Assert.False(a.eq(Draw(2)).all().item<bool>());
        // Element-wise: survivors are 1/(1 − p); the kept share is near 0.7 (1000 draws: 5 σ ≈ 0.072).
        Assert.True(a.eq(0).logical_or(a.sub(1 / 0.7).abs().lt(1e-12)).all().item<bool>());
        Assert.InRange(a.ne(0).to(ScalarType.Float64).mean().item<double>(), 0.7 - 0.073, 0.7 + 0.073);
        Assert.Throws<ArgumentOutOfRangeException>(() => new StreamDropout(1.0));
    }
}
