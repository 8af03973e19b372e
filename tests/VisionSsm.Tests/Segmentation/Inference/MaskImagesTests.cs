using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Tests.Data;

namespace VisionSsm.Tests.Segmentation.Inference;

public class MaskImagesTests
{
    [Fact]
    public void MaskAndOverlayFilesHoldLabelsAndBlendedColours()
    {
        using var dir = new TempDir();
        byte[] labels = [0, 1, 2, 255, 15, 1];
        MaskImages.SaveMask(dir.File("m.png"), labels, 2, 3);
        Assert.Equal(labels, LabelPng.Read(dir.File("m.png")).Labels);

        var gray = new float[] { 0, 0.2f, 0.4f, 0.6f, 0.8f, 1 };
        var s = new SegmentationSample(gray, 1, 2, 3, labels);
        MaskImages.SaveOverlay(dir.File("o.png"), s);
        var o = ImageDecoder.Decode(dir.File("o.png"));
        Assert.Equal((3, 2, 3), (o.Channels, o.Height, o.Width));
        // Pixel 1: gray 0.2, label 1 = (128, 0, 0) → R = 0.5·0.2 + 0.5·128/255, G = B = 0.1.
        Assert.Equal(0.1f + 0.5f * 128 / 255, o.Pixels[1], 0.5f / 255 + 1e-4f);
        Assert.Equal(0.1f, o.Pixels[6 + 1], 0.5f / 255 + 1e-4f);
        // Pixel 3 is ignored: the image shows through unchanged.
        for (int c = 0; c < 3; c++) Assert.Equal(0.6f, o.Pixels[c * 6 + 3], 0.5f / 255 + 1e-4f);
        Assert.Equal(128 / 255f, MaskImages.Colorize(labels, 2, 3).Pixels[1], 6);
    }

    [Fact]
    public void TileLaysPanelsOutWithGaps()
    {
        var a = new ImageSample(Enumerable.Repeat(0f, 4).ToArray(), 1, 2, 2, 0);
        var b = new ImageSample(Enumerable.Repeat(0.5f, 3 * 6).ToArray(), 3, 3, 2, 0);
        var t = MaskImages.Tile([[a, b], [b]], gap: 1);
        Assert.Equal((3, 3 + 1 + 3, 2 + 1 + 2), (t.Channels, t.Height, t.Width));
        int hw = t.Height * t.Width;
        Assert.Equal(0f, t.Pixels[0]);                    // a at (0, 0)
        Assert.Equal(1f, t.Pixels[2]);                    // gap column
        Assert.Equal(0.5f, t.Pixels[3]);                  // b at (0, 3)
        Assert.Equal(1f, t.Pixels[2 * t.Width]);          // below a (row 2 of a 2-row panel in a 3-row cell)
        Assert.Equal(0.5f, t.Pixels[2 * hw + 4 * t.Width]); // second row's b
        Assert.Throws<ArgumentException>(() => MaskImages.Colorize([1, 2], 2, 2));
    }
}
