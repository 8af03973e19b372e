using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Data.Transforms;

namespace VisionSsm.Tests.Segmentation.Data.Transforms;

/// <summary>
/// The image encodes its own labels (every channel of a label-k pixel is k/5, label 0 is black), so after any
/// geometric transform the mask re-derived from the image must equal the transformed mask.
/// </summary>
public class JointTransformTests
{
    static SegmentationSample Blocks(int h, int w, int channels = 3, int seed = 1)
    {
        var rng = new Random(seed);
        var mask = new byte[h * w];
        // Rectangles of labels 1–4 (each at least 6 px wide) over a background of 0.
        for (int k = 0; k < 6; k++)
        {
            int bh = rng.Next(6, h / 2), bw = rng.Next(6, w / 2), y = rng.Next(h - bh), x = rng.Next(w - bw);
            byte label = (byte)(1 + k % 4);
            for (int i = y; i < y + bh; i++) for (int j = x; j < x + bw; j++) mask[i * w + j] = label;
        }
        var px = new float[channels * h * w];
        for (int c = 0; c < channels; c++) for (int p = 0; p < h * w; p++) px[c * h * w + p] = mask[p] / 5f;
        return new SegmentationSample(px, channels, h, w, mask);
    }

    static byte Derived(SegmentationSample s, int p) => (byte)Math.Round(s.Pixels[p] * 5);

    static void AssertAlignedExactly(SegmentationSample s)
    {
        Assert.Equal(s.Channels * s.Height * s.Width, s.Pixels.Length);
        Assert.Equal(s.Height * s.Width, s.Mask.Length);
        for (int p = 0; p < s.Mask.Length; p++)
            Assert.Equal(s.Mask[p] == 255 ? (byte)0 : s.Mask[p], Derived(s, p));
    }

    /// <summary>Interpolated images blur label edges: pixels whose 5×5 mask neighbourhood has one label must match exactly.</summary>
    static void AssertAlignedInside(SegmentationSample s, bool requireMany = true)
    {
        int inside = 0;
        for (int i = 2; i < s.Height - 2; i++)
        for (int j = 2; j < s.Width - 2; j++)
        {
            byte m = s.Mask[i * s.Width + j];
            bool uniform = true;
            for (int di = -2; di <= 2 && uniform; di++)
                for (int dj = -2; dj <= 2 && uniform; dj++) uniform = s.Mask[(i + di) * s.Width + j + dj] == m;
            if (!uniform) continue;
            inside++;
            Assert.Equal(m == 255 ? (byte)0 : m, Derived(s, i * s.Width + j));
            Assert.Equal(m == 255 ? 0f : m / 5f, s.Pixels[i * s.Width + j], 4);
        }
        Assert.True(!requireMany || inside > s.Height * s.Width / 4, $"only {inside} interior pixels");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FlipMovesImageAndMaskTogether(bool vertical)
    {
        var s = Blocks(30, 41);
        var f = new RandomFlip(1, vertical).Apply(s, new Random(0));
        AssertAlignedExactly(f);
        // Mirror positions hold the original values.
        Assert.Equal(s.Mask[0], vertical ? f.Mask[29 * 41] : f.Mask[40]);
        Assert.Same(s, new RandomFlip(0).Apply(s, new Random(0)));
    }

    [Fact]
    public void CropCutsTheSameWindowAndKeepsSmallImagesWhole()
    {
        var s = Blocks(30, 41);
        for (int seed = 0; seed < 10; seed++)
        {
            var c = new RandomCrop(17, 23).Apply(s, new Random(seed));
            Assert.Equal((17, 23), (c.Height, c.Width));
            AssertAlignedExactly(c);
        }
        var whole = new RandomCrop(64, 64).Apply(s, new Random(1));
        Assert.Equal((30, 41), (whole.Height, whole.Width));
    }

    [Fact]
    public void CatMaxRatioRejectsWindowsDominatedByOneLabel()
    {
        // 20×20: label 1, with columns 15–19 label 2; image value = column / 19. A 20×10 window starting at column x
        // has label-2 share (x − 5)/10 for x ≥ 6, so only x ∈ {8, 9, 10} keep the largest share < 0.75.
        int h = 20, w = 20;
        var mask = new byte[h * w];
        var px = new float[h * w];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) { mask[i * w + j] = (byte)(j >= 15 ? 2 : 1); px[i * w + j] = j / 19f; }
        var s = new SegmentationSample(px, 1, h, w, mask);
        int Start(SegmentationSample c) => (int)Math.Round(c.Pixels[0] * 19);
        int constrained = 0, free = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            if (Start(new RandomCrop(20, 10, 0.75).Apply(s, new Random(seed))) is >= 8 and <= 10) constrained++;
            if (Start(new RandomCrop(20, 10).Apply(s, new Random(seed))) is >= 8 and <= 10) free++;
        }
        // Unconstrained, 3 of 11 starts qualify (~11 of 40); with up to 10 redraws all but ~(8/11)^11 ≈ 3 %.
        Assert.True(constrained >= 34, $"{constrained} of 40 constrained crops qualified");
        Assert.True(free <= 20, $"{free} of 40 free crops qualified");
        // A single-label image can never pass; the crop still happens.
        var one = new SegmentationSample(px, 1, h, w, new byte[h * w]);
        Assert.Equal((20, 10), (new RandomCrop(20, 10, 0.75).Apply(one, new Random(3)) is var c1 ? (c1.Height, c1.Width) : default));
    }

    [Fact]
    public void ResizeFollowsMmcvRescaleAndKeepsAlignment()
    {
        // mmcv rescale_size: 40×60 (h×w) to scale (2048, 512): f = min(2048/60, 512/40) = 12.8 → 512×768.
        Assert.Equal((512, 768), RandomResize.TargetSize(40, 60, 2048, 512, keepRatio: true));
        // f = min(100/60, 50/40) = 1.25 → (⌊50 + ½⌋, ⌊75 + ½⌋).
        Assert.Equal((50, 75), RandomResize.TargetSize(40, 60, 100, 50, keepRatio: true));
        Assert.Equal((50, 100), RandomResize.TargetSize(40, 60, 100, 50, keepRatio: false));
        var s = Blocks(40, 60);
        for (int seed = 0; seed < 6; seed++)
        {
            var r = new RandomResize(90, 60, 0.5, 2.0).Apply(s, new Random(seed));
            Assert.Equal(r.Width * 2, r.Height * 3, 3.0);   // aspect kept within rounding
            AssertAlignedInside(r);
            Assert.All(r.Mask, m => Assert.InRange(m, (byte)0, (byte)4));   // nearest never invents labels
        }
    }

    [Fact]
    public void BilinearMatchesOpenCvOnAHandExample()
    {
        // 1×4 row [0, 1, 2, 3] → 2 columns: x' = 0 samples x = 0.5 → 0.5; x' = 1 samples x = 2.5 → 2.5.
        Assert.Equal([0.5f, 2.5f], JointResize.Bilinear([0, 1, 2, 3], 1, 1, 4, 1, 2));
        // → 8 columns: x = (x' + ½)/2 − ½ = −¼ (clamped to 0), ¼, ¾, … , 3¼ (clamped to 3).
        Assert.Equal([0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3f], JointResize.Bilinear([0, 1, 2, 3], 1, 1, 4, 1, 8));
        // Nearest: x = ⌊x'·4/3⌋ → 0, 1, 2.
        Assert.Equal([10, 11, 12], JointResize.Nearest([10, 11, 12, 13], 1, 4, 1, 3));
    }

    [Fact]
    public void PadExtendsWithTheIgnoreLabelAndPadValue()
    {
        var s = Blocks(30, 41);
        var p = new Pad(32, 48).Apply(s, new Random(0));
        Assert.Equal((32, 48), (p.Height, p.Width));
        AssertAlignedExactly(p);
        for (int i = 0; i < 32; i++)
        for (int j = 0; j < 48; j++)
            if (i >= 30 || j >= 41) Assert.Equal(255, p.Mask[i * 48 + j]);
            else Assert.Equal(s.Mask[i * 41 + j], p.Mask[i * 48 + j]);
        var d = Pad.To(s, 0, 0, padValue: -1f, sizeDivisor: 16);
        Assert.Equal((32, 48), (d.Height, d.Width));
        Assert.Equal(-1f, d.Pixels[31 * 48]);
        Assert.Same(s, new Pad(10, 10).Apply(s, new Random(0)));
    }

    [Fact]
    public void PhotometricDistortionChangesColoursOnlyPerPixel()
    {
        var s = Blocks(24, 24, seed: 4);
        // Give each label its own colour so hue and saturation have something to act on.
        int hw = 24 * 24;
        for (int p = 0; p < hw; p++)
        {
            int m = s.Mask[p];
            s.Pixels[p] = 0.1f + 0.2f * m; s.Pixels[hw + p] = 0.9f - 0.15f * m; s.Pixels[2 * hw + p] = 0.3f + 0.1f * (m % 2);
        }
        int changed = 0;
        for (int seed = 0; seed < 8; seed++)
        {
            var d = new PhotoMetricDistortion().Apply(s, new Random(seed));
            Assert.Equal(s.Mask, d.Mask);
            Assert.All(d.Pixels, v => Assert.InRange(v, 0f, 1f));
            // Same input colour → same output colour (no spatial mixing).
            var colourOf = new Dictionary<byte, (float, float, float)>();
            for (int p = 0; p < hw; p++)
            {
                var c = (d.Pixels[p], d.Pixels[hw + p], d.Pixels[2 * hw + p]);
                if (colourOf.TryGetValue(s.Mask[p], out var prev)) Assert.Equal(prev, c);
                else colourOf[s.Mask[p]] = c;
            }
            if (!d.Pixels.AsSpan().SequenceEqual(s.Pixels)) changed++;
        }
        Assert.True(changed >= 6, $"only {changed} of 8 draws changed the image");
    }

    [Fact]
    public void HueTurnOfZeroAndUnitScalesLeaveColoursAlone()
    {
        var s = Blocks(12, 12, seed: 2);
        for (int i = 0; i < s.Pixels.Length; i++) s.Pixels[i] = (i * 37 % 101) / 100f;
        var identity = new PhotoMetricDistortion(0, 1, 1, 1, 1, 0);
        var d = identity.Apply(s, new Random(5));
        for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i], d.Pixels[i], 5);
    }

    [Fact]
    public void BrightnessAloneShiftsEveryValueByOneBoundedDelta()
    {
        var s = Blocks(16, 16, seed: 3);
        for (int i = 0; i < s.Pixels.Length; i++) s.Pixels[i] = 0.2f + 0.6f * (i % 7) / 6;   // inside [0.2, 0.8]: no clipping at ±32/255
        var brightnessOnly = new PhotoMetricDistortion(32, 1, 1, 1, 1, 0);
        int shifted = 0;
        for (int seed = 0; seed < 10; seed++)
        {
            var d = brightnessOnly.Apply(s, new Random(seed));
            float delta = d.Pixels[0] - s.Pixels[0];
            Assert.InRange(delta, -32f / 255 - 1e-6f, 32f / 255 + 1e-6f);
            for (int i = 0; i < s.Pixels.Length; i++) Assert.Equal(s.Pixels[i] + delta, d.Pixels[i], 5);
            if (delta != 0) shifted++;
        }
        Assert.InRange(shifted, 2, 9);   // applied with probability ½
    }

    [Fact]
    public void TrainPipelineIsSeededAndKeepsAlignment()
    {
        var s = Blocks(48, 64);
        var pipe = SegmentationPipeline.Train(32, 32, 64, 48, photometric: false);
        for (int seed = 0; seed < 8; seed++)
        {
            var a = pipe.Apply(s, new Random(seed));
            var b = pipe.Apply(s, new Random(seed));
            Assert.Equal(a.Pixels, b.Pixels);
            Assert.Equal(a.Mask, b.Mask);
            Assert.Equal((32, 32), (a.Height, a.Width));
            AssertAlignedInside(a, requireMany: false);
            for (int p = 0; p < a.Mask.Length; p++)
                if (a.Mask[p] == 255) Assert.Equal(0f, a.Pixels[p]);
        }
        var n = new NormalizeImage([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]).Apply(s, new Random(0));
        Assert.Equal((s.Pixels[7] - 0.5f) / 0.25f, n.Pixels[7], 6);
        Assert.Contains("3 channels", Assert.Throws<ArgumentException>(() => new NormalizeImage([0.5f], [0.2f]).Apply(s, new Random(0))).Message);
    }
}
