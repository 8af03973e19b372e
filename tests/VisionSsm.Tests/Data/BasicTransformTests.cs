using VisionSsm.Data;
using VisionSsm.Data.Transforms;
using static VisionSsm.Tests.Data.TransformTestImages;

namespace VisionSsm.Tests.Data;

public class BasicTransformTests
{
    [Fact]
    public void FlipTwiceIsIdentityAndFlipMirrors()
    {
        var s = Random(3, 5, 7);
        var f = RandomHorizontalFlip.Flip(s);
        Assert.Equal(At(s, 2, 1, 0), At(f, 2, 1, 6));
        Assert.Equal(s.Pixels, RandomHorizontalFlip.Flip(f).Pixels);
        Assert.Same(s, new RandomHorizontalFlip(0).Apply(s, new System.Random(1)));
    }

    [Fact]
    public void NormalizeIsPerChannelAffine()
    {
        var s = Of(2, 2, 2, (c, y, x) => c + 0.25f * x);
        var n = new Normalize([0.5f, 1f], [0.5f, 2f]).Apply(s, new System.Random(0));
        Assert.Equal((0f - 0.5f) / 0.5f, At(n, 0, 0, 0), 6);
        Assert.Equal((0.25f - 0.5f) / 0.5f, At(n, 0, 1, 1), 6);
        Assert.Equal((1.25f - 1f) / 2f, At(n, 1, 0, 1), 6);
        Assert.Throws<ArgumentException>(() => new Normalize([0.5f, 0.5f], [1f, 1f]).Apply(Random(3, 2, 2), new System.Random(0)));
    }

    [Fact]
    public void CenterCropGeometryFollowsTorchvision()
    {
        var s = Of(1, 10, 9, (c, y, x) => 100 * y + x);
        var crop = ResizeCenterCrop.CenterCrop(s, 4);
        // top = round((10 − 4) / 2) = 3, left = round((9 − 4) / 2) = round(2.5) = 2 (banker's rounding, as Python's round)
        Assert.Equal(302f, At(crop, 0, 0, 0));
        Assert.Equal(605f, At(crop, 0, 3, 3));
    }

    [Fact]
    public void EvalResizeUsesCropPct()
    {
        var t = new ResizeCenterCrop(224, 0.875);
        Assert.Equal(256, t.ScaleSize);
        var s = t.Apply(Random(3, 300, 400), new System.Random(0));
        Assert.Equal((3, 224, 224), (s.Channels, s.Height, s.Width));
        // a constant image stays constant through resize + crop
        var k = t.Apply(Of(1, 50, 80, (_, _, _) => 0.3f), new System.Random(0));
        Assert.All(k.Pixels, v => Assert.Equal(0.3f, v, 5));
    }

    [Theory]
    [InlineData(Interpolation.Bilinear, 16, 8)]
    [InlineData(Interpolation.Bicubic, 24, 8)]
    [InlineData(Interpolation.Bilinear, 8, 20)]
    [InlineData(Interpolation.Bicubic, 8, 20)]
    public void ResizeReproducesALinearRampInTheInterior(Interpolation m, int inSize, int outSize)
    {
        // Upscaling: bilinear and Keys bicubic interpolate linear functions exactly. Integer downscaling (×2, ×3):
        // the widened filter's taps sit symmetrically around the output centre, so the weighted mean is the centre.
        // Either way output j equals the input ramp at (j + 0.5)·s − 0.5.
        var s = Of(1, 1, inSize, (_, _, x) => x);
        var r = Resampler.Resize(s.Pixels, 1, 1, inSize, 1, outSize, m);
        double scale = (double)inSize / outSize;
        int margin = (int)Math.Ceiling(3 * Math.Max(1, scale));
        for (int j = 0; j < outSize; j++)
        {
            double center = (j + 0.5) * scale;
            if (center < margin || center > inSize - margin) continue;
            Assert.Equal(center - 0.5, r[j], 4);
        }
    }

    [Fact]
    public void RandomResizedCropStaysInBoundsAndIsDeterministic()
    {
        var t = new RandomResizedCrop(16);
        var rng = new System.Random(5);
        for (int i = 0; i < 500; i++)
        {
            int h = 10 + rng.Next(60), w = 10 + rng.Next(60);
            var (top, left, bh, bw) = t.SampleBox(h, w, rng);
            Assert.InRange(top, 0, h - 1);
            Assert.InRange(left, 0, w - 1);
            Assert.InRange(top + bh, 1, h);
            Assert.InRange(left + bw, 1, w);
            Assert.True(bh > 0 && bw > 0);
        }
        var img = Random(3, 40, 30);
        var a = t.Apply(img, new System.Random(9));
        Assert.Equal((3, 16, 16), (a.Channels, a.Height, a.Width));
        Assert.Equal(a.Pixels, t.Apply(img, new System.Random(9)).Pixels);
        Assert.All(a.Pixels, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void PadRandomCropShiftsWithZeroFill()
    {
        var s = Of(1, 4, 4, (_, y, x) => 1 + 10 * y + x);
        var shifted = PadRandomCrop.Shift(s, 1, -2, reflect: false);
        Assert.Equal(0f, At(shifted, 0, 1, 0)); // source row −1 → zero
        Assert.Equal(At(s, 0, 0, 1), At(shifted, 0, 2, 0));
        Assert.Equal(0f, At(shifted, 0, 2, 3)); // source column 4 → zero
        var reflected = PadRandomCrop.Shift(s, -1, 0, reflect: true);
        Assert.Equal(At(s, 0, 0, 1), At(reflected, 0, 0, 0)); // column −1 reflects to 1
        var t = new PadRandomCrop(4);
        var img = Random(1, 28, 28);
        Assert.Equal(t.Apply(img, new System.Random(3)).Pixels, t.Apply(img, new System.Random(3)).Pixels);
    }

    [Fact]
    public void ConvertChannelsGrayRgb()
    {
        var g = Random(1, 3, 3);
        var rgb = ConvertChannels.Convert(g, 3);
        Assert.Equal(3, rgb.Channels);
        Assert.Equal(At(g, 0, 2, 1), At(rgb, 2, 2, 1));
        var back = ConvertChannels.Convert(rgb, 1);
        for (int i = 0; i < 9; i++) Assert.Equal(g.Pixels[i], back.Pixels[i], 5); // luma weights sum to 1
        var red = Of(3, 1, 1, (c, _, _) => c == 0 ? 1 : 0);
        Assert.Equal(0.299f, ConvertChannels.Convert(red, 1).Pixels[0], 6);
        Assert.Throws<ArgumentException>(() => ConvertChannels.Convert(Random(2, 2, 2), 3));
    }
}
