using TorchSharp;
using VisionSsm.Data;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Data;

public class MixupTests
{
    static Tensor Images(int b, int h, int w)
    {
        // image k is constant k + 1, so every output pixel tells which images were mixed
        var t = torch.arange(1, b + 1, dtype: ScalarType.Float32).view(b, 1, 1, 1);
        return t.expand(b, 2, h, w).contiguous();
    }

    [Fact]
    public void SoftTargetsSumToOneAndCarrySmoothing()
    {
        using var scope = NewDisposeScope();
        var labels = torch.tensor(new long[] { 0, 3, 1, 2 });
        var mix = new Mixup(labelSmoothing: 0.1);
        for (int seed = 0; seed < 10; seed++)
        {
            var (_, targets) = mix.Apply(Images(4, 8, 8), labels, 5, new Random(seed));
            var sums = targets.sum(dim: 1).data<float>().ToArray();
            Assert.All(sums, v => Assert.Equal(1f, v, 5));
            Assert.True(targets.min().item<float>() >= 0.1f / 5 - 1e-6f);
        }
        var smooth = Mixup.SmoothOneHot(labels, 5, 0.1).data<float>().ToArray();
        Assert.Equal(0.92f, smooth[0], 6);
        Assert.Equal(0.02f, smooth[1], 6);
    }

    [Fact]
    public void MixupBlendsWithTheFlippedBatch()
    {
        using var scope = NewDisposeScope();
        var labels = torch.tensor(new long[] { 0, 1, 2 });
        var mix = new Mixup(mixupAlpha: 0.8, cutmixAlpha: 0, labelSmoothing: 0);
        var ((images, targets), lam, cut) = mix.ApplyWithLambda(Images(3, 4, 4), labels, 3, new Random(2));
        Assert.False(cut);
        // image 0 = λ·1 + (1 − λ)·3 ; target row 0 = λ at class 0, 1 − λ at class 2
        Assert.Equal((float)(lam * 1 + (1 - lam) * 3), images[0, 1, 2, 3].item<float>(), 5);
        Assert.Equal((float)lam, targets[0, 0].item<float>(), 5);
        Assert.Equal((float)(1 - lam), targets[0, 2].item<float>(), 5);
    }

    [Fact]
    public void CutMixLambdaEqualsTheKeptAreaAfterClipping()
    {
        using var scope = NewDisposeScope();
        var labels = torch.tensor(new long[] { 0, 1 });
        var mix = new Mixup(mixupAlpha: 0, cutmixAlpha: 1.0, labelSmoothing: 0);
        int checkedCount = 0;
        for (int seed = 0; seed < 30; seed++)
        {
            var ((images, targets), lam, cut) = mix.ApplyWithLambda(Images(2, 10, 12), labels, 2, new Random(seed));
            Assert.True(cut);
            // image 0 keeps value 1 outside the box and takes value 2 inside it
            var px = images[0, 0].data<float>().ToArray();
            double kept = px.Count(v => v == 1f) / 120.0;
            Assert.Equal(kept, lam, 6);
            Assert.Equal((float)lam, targets[0, 0].item<float>(), 5);
            if (lam < 1) checkedCount++;
        }
        Assert.True(checkedCount > 10);
        var rng = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var (yl, yh, xl, xh, lam) = Mixup.CutMixBox(10, 12, rng.NextDouble(), rng);
            Assert.True(0 <= yl && yl <= yh && yh <= 10 && 0 <= xl && xl <= xh && xh <= 12);
            Assert.Equal(1 - (yh - yl) * (xh - xl) / 120.0, lam, 12);
        }
    }

    [Fact]
    public void ProbZeroOnlySmoothsAndBetaSamplerHasTheRightMean()
    {
        using var scope = NewDisposeScope();
        var images = Images(2, 3, 3);
        var (outImages, targets) = new Mixup(prob: 0, labelSmoothing: 0.2).Apply(images, torch.tensor(new long[] { 1, 0 }), 2, new Random(0));
        Assert.Same(images, outImages);
        Assert.Equal(0.9f, targets[0, 1].item<float>(), 6);
        var rng = new Random(5);
        double sum = 0, sumSq = 0;
        const int n = 20000;
        for (int i = 0; i < n; i++) { double v = rng.Beta(0.8, 0.8); sum += v; sumSq += v * v; }
        double mean = sum / n, variance = sumSq / n - mean * mean;
        Assert.Equal(0.5, mean, 2);            // Beta(a, a) mean ½
        Assert.Equal(1 / (4 * 2.6), variance, 2); // variance 1/(4(2a + 1))
    }
}
