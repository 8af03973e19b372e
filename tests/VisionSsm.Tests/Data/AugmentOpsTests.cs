using VisionSsm.Data;
using VisionSsm.Data.Transforms;
using static VisionSsm.Tests.Data.TransformTestImages;

namespace VisionSsm.Tests.Data;

public class AugmentOpsTests
{
    static readonly float[] Gray = [0.5f, 0.5f, 0.5f];

    /// <summary>An RGB image whose values are exact 8-bit levels.</summary>
    static ImageSample Levels(int seed = 3) => Of(3, 9, 11, (c, y, x) => ((seed * 31 + c * 7 + y * 13 + x * 29) * 37 % 256) / 255f);

    [Fact]
    public void InvertTwiceIsIdentity()
    {
        var s = Levels();
        var twice = AugmentOps.Invert(AugmentOps.Invert(s));
        for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], twice.Pixels[i], 1e-6);
        Assert.Equal(1 - s.Pixels[5], AugmentOps.Invert(s).Pixels[5], 1e-6);
    }

    [Fact]
    public void SolarizeInvertsAtOrAboveTheThreshold()
    {
        var s = Of(1, 1, 4, (_, _, x) => new[] { 0f, 127f, 128f, 255f }[x] / 255f);
        var r = AugmentOps.Solarize(s, 128);
        Assert.Equal([0f, 127f / 255f, 1f - 128f / 255f, 0f], r.Pixels);
        Assert.Equal(s.Pixels, AugmentOps.Solarize(s, 256).Pixels); // threshold 256: nothing changes (magnitude 0 of SolarizeIncreasing)
        var add = AugmentOps.SolarizeAdd(s, 200);
        Assert.Equal(200f / 255f, add.Pixels[0], 6);
        Assert.Equal(1f, add.Pixels[1]); // 127 + 200 saturates at 255
        Assert.Equal(s.Pixels[2], add.Pixels[2]); // ≥ 128 unchanged
    }

    [Fact]
    public void PosterizeKeepsTopBits()
    {
        var s = Of(1, 1, 2, (_, _, x) => (x == 0 ? 0b1011_0110 : 0b0111_1111) / 255f);
        Assert.Equal([0b1010_0000 / 255f, 0b0110_0000 / 255f], AugmentOps.Posterize(s, 3).Pixels);
        Assert.All(AugmentOps.Posterize(s, 0).Pixels, v => Assert.Equal(0f, v));
        Assert.Same(s, AugmentOps.Posterize(s, 8));
    }

    [Fact]
    public void ZeroMagnitudeGeometricOpsAreIdentity()
    {
        var s = Levels();
        foreach (var r in new[] { AugmentOps.Rotate(s, 0, Gray), AugmentOps.ShearX(s, 0, Gray), AugmentOps.TranslateY(s, 0, Gray) })
            for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], r.Pixels[i], 5);
        var ra = new RandAugment(probability: 1);
        // (PosterizeIncreasing is not among them: at magnitude 0 it keeps 4 bits, as in timm.)
        foreach (var op in new[] { "Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel", "SolarizeIncreasing", "SolarizeAdd" })
        {
            var r = ra.ApplyOp(s, op, 0, new Random(1));
            for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], r.Pixels[i], 5);
        }
    }

    [Fact]
    public void Rotate90MovesPixelsCounterClockwise()
    {
        // PIL rotate(90) is counter-clockwise: the top-right corner moves to the top-left.
        var s = Of(1, 5, 5, (_, y, x) => y * 5 + x);
        var r = AugmentOps.Rotate(s, 90, [0f]);
        Assert.Equal(At(s, 0, 0, 4), At(r, 0, 0, 0), 4);
        Assert.Equal(At(s, 0, 4, 4), At(r, 0, 0, 4), 4);
        Assert.Equal(At(s, 0, 2, 2), At(r, 0, 2, 2), 4);
    }

    [Fact]
    public void TranslateFillsTheUncoveredBandWithTheFill()
    {
        var s = Levels();
        var t = AugmentOps.TranslateX(s, 3, Gray); // samples x + 3: the last 3 columns come from outside
        Assert.Equal(At(s, 1, 4, 5), At(t, 1, 4, 2), 5);
        Assert.Equal(0.5f, At(t, 2, 0, 10));
    }

    [Fact]
    public void EnhanceOpsFollowPilBlends()
    {
        var s = Levels();
        var bright = AugmentOps.Brightness(s, 0.5);
        Assert.Equal(s.Pixels[7] * 0.5f, bright.Pixels[7], 6);
        var gray = AugmentOps.Color(s, 0); // fully desaturated: all channels equal the luma
        Assert.Equal(At(gray, 0, 3, 3), At(gray, 2, 3, 3), 6);
        var flat = AugmentOps.Contrast(s, 0);
        Assert.All(flat.Pixels, v => Assert.Equal(flat.Pixels[0], v));
        foreach (var f in new Func<ImageSample, double, ImageSample>[] { AugmentOps.Brightness, AugmentOps.Color, AugmentOps.Contrast, AugmentOps.Sharpness })
        {
            var same = f(s, 1.0); // factor 1 = original
            for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], same.Pixels[i], 5);
        }
        // sharpness on a constant image does nothing; on an impulse, factor 0 gives the SMOOTH kernel's centre weight 5/13
        var impulse = Of(1, 3, 3, (_, y, x) => y == 1 && x == 1 ? 1 : 0);
        Assert.Equal(5f / 13f, At(AugmentOps.Sharpness(impulse, 0), 0, 1, 1), 6);
    }

    [Fact]
    public void AutoContrastStretchesAndEqualizeFlattensTheHistogram()
    {
        var s = Of(1, 1, 4, (_, _, x) => 0.25f + 0.1f * x);
        var ac = AugmentOps.AutoContrast(s);
        Assert.Equal(0f, ac.Pixels[0], 6);
        Assert.Equal(1f, ac.Pixels[3], 6);
        Assert.Equal(1f / 3f, ac.Pixels[1], 5);
        // 256 pixels on 4 levels (64 each): step = (256 − 64) // 255 = 0 → PIL leaves it unchanged
        var few = Of(1, 16, 16, (_, y, x) => (y * 16 + x) % 4 * 10 / 255f);
        Assert.Equal(few.Pixels, AugmentOps.Equalize(few).Pixels);
        // 1024 pixels on 4 levels: step = (1024 − 256) // 255 = 3; lut = (1 + cumulative) // 3 → 0, 85, 171, (255)
        var many = Of(1, 32, 32, (_, y, x) => (y * 32 + x) % 4 * 10 / 255f);
        var eq = AugmentOps.Equalize(many);
        Assert.Equal([0f, 85f / 255f, 171f / 255f], eq.Pixels.Distinct().Order().Take(3).ToArray());
    }

    [Fact]
    public void RandAugmentParsesTheRecipeAndIsDeterministic()
    {
        var ra = RandAugment.Parse("rand-m9-mstd0.5-inc1");
        Assert.Equal((9.0, 2, 0.5, 10.0, 0.5), (ra.Magnitude, ra.NumOps, ra.MagnitudeStd, ra.MagnitudeMax, ra.Probability));
        Assert.Same(RandAugment.IncreasingOps, ra.Ops);
        Assert.Same(RandAugment.StandardOps, RandAugment.Parse("rand-m7-n3").Ops);
        Assert.Equal(3, RandAugment.Parse("rand-m7-n3").NumOps);
        Assert.Throws<ArgumentException>(() => RandAugment.Parse("rand-m9-q3"));
        Assert.Throws<ArgumentException>(() => RandAugment.Parse("augmix-m3"));
        var s = Levels();
        var a = ra.Apply(s, new Random(11));
        Assert.Equal(a.Pixels, ra.Apply(s, new Random(11)).Pixels);
        Assert.Equal((3, 9, 11), (a.Channels, a.Height, a.Width));
        // every op runs on gray and RGB images and keeps values in [0, 1]
        foreach (var op in RandAugment.StandardOps.Concat(RandAugment.IncreasingOps).Distinct())
            foreach (var img in new[] { s, ConvertChannels.Convert(s, 1) })
            {
                var r = ra.ApplyOp(img, op, 9, new Random(2));
                Assert.Equal(img.Pixels.Length, r.Pixels.Length);
                Assert.All(r.Pixels, v => Assert.InRange(v, 0f, 1f));
            }
    }
}
