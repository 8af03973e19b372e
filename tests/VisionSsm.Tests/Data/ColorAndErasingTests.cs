using VisionSsm.Data;
using VisionSsm.Data.Transforms;
using static VisionSsm.Tests.Data.TransformTestImages;

namespace VisionSsm.Tests.Data;

public class ColorAndErasingTests
{
    [Fact]
    public void ColorJitterZeroIsIdentityAndIsDeterministic()
    {
        var s = Random(3, 6, 6);
        Assert.Equal(s.Pixels, new ColorJitter(0).Apply(s, new System.Random(1)).Pixels);
        var cj = new ColorJitter(0.4);
        var a = cj.Apply(s, new System.Random(4));
        Assert.Equal(a.Pixels, cj.Apply(s, new System.Random(4)).Pixels);
        Assert.NotEqual(s.Pixels, a.Pixels);
        Assert.All(a.Pixels, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void HueShiftRotatesPrimariesAndFullTurnIsIdentity()
    {
        var red = Of(3, 1, 1, (c, _, _) => c == 0 ? 1 : 0);
        var green = ColorJitter.ShiftHue(red, 1.0 / 3); // 120° takes red to green
        float[] expected = [0f, 1f, 0f];
        for (int c = 0; c < 3; c++) Assert.Equal(expected[c], green.Pixels[c], 1e-6);
        var s = Random(3, 4, 4);
        var round = ColorJitter.ShiftHue(ColorJitter.ShiftHue(s, 0.3), -0.3);
        for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], round.Pixels[i], 1e-5);
    }

    [Fact]
    public void RandomErasingErasesOneBoxOfBoundedArea()
    {
        var s = Of(3, 40, 50, (_, _, _) => 7f); // 7 never comes from N(0, 1) in practice
        var re = new RandomErasing(probability: 1, mode: ErasingMode.Const);
        for (int seed = 0; seed < 50; seed++)
        {
            var r = re.Apply(s, new System.Random(seed));
            var erased = Enumerable.Range(0, 40 * 50).Where(i => r.Pixels[i] == 0f).ToArray();
            if (erased.Length == 0) continue; // all 10 attempts may fail for extreme aspects
            int minY = erased.Min(i => i / 50), maxY = erased.Max(i => i / 50), minX = erased.Min(i => i % 50), maxX = erased.Max(i => i % 50);
            Assert.Equal((maxY - minY + 1) * (maxX - minX + 1), erased.Length); // a rectangle
            Assert.InRange(erased.Length, 0.02 * 2000 * 0.8, 2000.0 / 3 * 1.2); // area fraction in [0.02, 1/3] (rounding slack)
            for (int c = 1; c < 3; c++) Assert.Equal(0f, r.Pixels[c * 2000 + erased[0]]);
        }
        Assert.Same(s, new RandomErasing(probability: 0).Apply(s, new System.Random(0)));
        var px = new RandomErasing(1, ErasingMode.Pixel).Apply(s, new System.Random(3));
        Assert.True(px.Pixels.Count(v => v != 7f) > 10);
    }

    [Fact]
    public void FactoryBuildsTimmLikePipelines()
    {
        var train = TransformFactory.Train(TransformOptions.ForImageNet(32));
        var names = train.Transforms.Select(t => t.GetType().Name).ToArray();
        Assert.Equal(["ConvertChannels", "RandomResizedCrop", "RandomHorizontalFlip", "RandAugment", "Normalize", "RandomErasing"], names);
        var img = Random(3, 50, 40);
        var a = train.Apply(img, new System.Random(5));
        Assert.Equal((3, 32, 32), (a.Channels, a.Height, a.Width));
        Assert.Equal(a.Pixels, train.Apply(img, new System.Random(5)).Pixels);
        var eval = TransformFactory.Eval(TransformOptions.ForImageNet(32));
        var e = eval.Apply(ConvertChannels.Convert(img, 1), new System.Random(0));
        Assert.Equal((3, 32, 32), (e.Channels, e.Height, e.Width));
        var fm = TransformFactory.Train(TransformOptions.ForFashionMnist());
        var f = fm.Apply(Random(1, 28, 28), new System.Random(1));
        Assert.Equal((1, 28, 28), (f.Channels, f.Height, f.Width));
        Assert.DoesNotContain(fm.Transforms, t => t is RandomResizedCrop);
        // color jitter only without RandAugment (timm)
        var cj = TransformFactory.Train(TransformOptions.ForImageNet(32) with { RandAugment = null });
        Assert.Contains(cj.Transforms, t => t is ColorJitter);
    }
}
