using VisionSsm.Detection.Data;
using VisionSsm.Detection.Data.Transforms;

namespace VisionSsm.Tests.Detection.Data;

/// <summary>Resize, flip and collation keep images, boxes and masks aligned (mmdetection's arithmetic).</summary>
public class DetectionTransformsTests
{
    /// <summary>A h×w gray image with one bright rectangle [x1, x2)×[y1, y2) as the instance (box, mask, pixels agree).</summary>
    static DetectionSample Rect(int h, int w, int x1, int y1, int x2, int y2)
    {
        var px = new float[h * w];
        var mask = new byte[h * w];
        for (int y = y1; y < y2; y++)
            for (int x = x1; x < x2; x++) { px[y * w + x] = 1; mask[y * w + x] = 1; }
        return new DetectionSample(px, 1, h, w, [x1, y1, x2, y2], [1], [mask], [0, 0, 2, 2], h, w, 7);
    }

    static (int X1, int Y1, int X2, int Y2) MaskBox(byte[] m, int h, int w)
    {
        int x1 = w, y1 = h, x2 = 0, y2 = 0;
        for (int p = 0; p < m.Length; p++)
            if (m[p] != 0) (x1, y1, x2, y2) = (Math.Min(x1, p % w), Math.Min(y1, p / w), Math.Max(x2, p % w + 1), Math.Max(y2, p / w + 1));
        return (x1, y1, x2, y2);
    }

    [Theory]
    [InlineData(40, 52, 1333, 800, 800, 1040)]    // short side limits: f = min(1333/52, 800/40) = 20
    [InlineData(100, 1000, 1333, 800, 133, 1333)] // long side limits: f = 1.333, 100·1.333 + ½ → 133
    [InlineData(96, 96, 96, 96, 96, 96)]
    [InlineData(480, 640, 800, 1333, 800, 1067)]  // (long, short) in either order: f = min(1333/640, 800/480)
    public void Keep_ratio_size_follows_mmcv(int h, int w, int longSide, int shortSide, int eh, int ew) =>
        Assert.Equal((eh, ew), DetectionResize.KeepRatioSize(h, w, longSide, shortSide));

    [Theory]
    [InlineData(40, 52, 64, 80)]
    [InlineData(40, 52, 20, 26)]
    [InlineData(33, 47, 99, 141)]
    public void Resize_keeps_box_mask_and_pixels_together(int h, int w, int nh, int nw)
    {
        var s = Rect(h, w, 10, 5, 30, 25);
        var r = DetectionResize.Apply(s, nh, nw);
        float sx = (float)nw / w, sy = (float)nh / h;
        Assert.Equal(new[] { 10 * sx, 5 * sy, 30 * sx, 25 * sy }, r.Boxes);
        Assert.Equal(new[] { 0f, 0f, 2 * sx, 2 * sy }, r.IgnoredBoxes);
        // Nearest-neighbour mask: its tight box is the scaled box up to one output pixel on each side.
        var (x1, y1, x2, y2) = MaskBox(r.Masks![0], nh, nw);
        Assert.InRange(x1 - r.Boxes[0], -1, 1); Assert.InRange(y1 - r.Boxes[1], -1, 1);
        Assert.InRange(x2 - r.Boxes[2], -1, 1); Assert.InRange(y2 - r.Boxes[3], -1, 1);
        // Bright pixels sit inside the (slightly grown) box.
        for (int p = 0; p < nh * nw; p++)
            if (r.Pixels[p] > 0.99f) Assert.True(p % nw >= r.Boxes[0] - 1 && p % nw < r.Boxes[2] + 1 && p / nw >= r.Boxes[1] - 1 && p / nw < r.Boxes[3] + 1);
    }

    [Fact]
    public void Flip_mirrors_the_box_exactly_and_twice_is_identity()
    {
        var s = Rect(20, 31, 3, 4, 12, 9);
        var f = DetectionFlip.Horizontal(s);
        Assert.Equal(new float[] { 31 - 12, 4, 31 - 3, 9 }, f.Boxes);
        Assert.Equal((19, 4, 28, 9), MaskBox(f.Masks![0], 20, 31));
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 31; x++) Assert.Equal(s.Pixels[y * 31 + x], f.Pixels[y * 31 + 30 - x]);
        var back = DetectionFlip.Horizontal(f);
        Assert.Equal(s.Pixels, back.Pixels);
        Assert.Equal(s.Boxes, back.Boxes);
        Assert.Equal(s.Masks![0], back.Masks![0]);
    }

    [Fact]
    public void Clipped_boxes_stay_inside_the_resized_image()
    {
        var s = Rect(10, 10, 0, 0, 10, 10) with { Boxes = [-3, -2, 12, 11] };
        var r = DetectionResize.Apply(s, 20, 30);
        Assert.Equal(new float[] { 0, 0, 30, 20 }, r.Boxes);
    }

    [Fact]
    public void Collate_normalises_pads_to_the_divisor_and_keeps_targets_in_the_batch_frame()
    {
        var a = Rect(40, 52, 10, 5, 30, 25);
        var b = Rect(33, 20, 1, 2, 5, 6);
        using var batch = DetectionBatch.Collate([a, b], [0.5f], [0.25f], 32);
        Assert.Equal(new long[] { 2, 1, 64, 64 }, batch.Images.shape);
        Assert.Equal(new VisionSsm.Detection.Models.ImageMeta(40, 52, 40, 52), batch.Metas[0]);
        Assert.Equal(new VisionSsm.Detection.Models.ImageMeta(33, 20, 33, 20), batch.Metas[1]);
        var img = batch.Images.data<float>().ToArray();
        Assert.Equal((1 - 0.5f) / 0.25f, img[5 * 64 + 10]);            // a bright pixel of image 0
        Assert.Equal((0 - 0.5f) / 0.25f, img[0]);                      // a dark pixel
        Assert.Equal(0f, img[50 * 64 + 60]);                           // padding
        Assert.Equal(0f, img[64 * 64 + 10 * 64 + 25]);                 // image 1 is 20 wide: column 25 is padding
        Assert.Equal(new float[] { 10, 5, 30, 25 }, batch.Targets[0].Boxes.data<float>().ToArray());
        Assert.Equal(new long[] { 1, 40, 52 }, batch.Targets[0].Masks!.shape);
        Assert.Equal(new long[] { 1 }, batch.Targets[1].Labels.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 4 }, batch.Targets[1].IgnoredBoxes!.shape);
        Assert.Equal(new long[] { 7, 7 }, batch.ImageIds);
    }

    [Fact]
    public void Pipeline_draws_short_sides_from_the_list_and_flips_about_half()
    {
        var p = new DetectionPipeline(200, [40, 60, 80]);
        var s = Rect(40, 52, 10, 5, 30, 25);
        var rng = new Random(3);
        var heights = new HashSet<int>();
        int flips = 0;
        for (int i = 0; i < 200; i++)
        {
            var t = p.Train(s, rng);
            heights.Add(t.Height);
            float f = (float)t.Width / 52;
            if (Math.Abs(t.Boxes[0] - 10 * f) > 1e-3) flips++;
        }
        Assert.Equal(new HashSet<int> { 40, 60, 80 }, heights);
        Assert.InRange(flips, 70, 130);
        var test = p.Test(s);   // the first short side: f = min(200/52, 40/40) = 1
        Assert.Equal((40, 52), (test.Height, test.Width));
        Assert.Equal(s.Boxes, test.Boxes);
    }
}
