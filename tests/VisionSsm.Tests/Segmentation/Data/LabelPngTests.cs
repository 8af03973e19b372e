using SkiaSharp;
using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Data;

namespace VisionSsm.Tests.Segmentation.Data;

public class LabelPngTests
{
    [Fact]
    public void VocPaletteHasTheDevkitColours()
    {
        Assert.Equal(((byte)0, (byte)0, (byte)0), SegmentationPalette.Color(0));
        Assert.Equal(((byte)128, (byte)0, (byte)0), SegmentationPalette.Color(1));
        Assert.Equal(((byte)0, (byte)128, (byte)0), SegmentationPalette.Color(2));
        Assert.Equal(((byte)192, (byte)128, (byte)128), SegmentationPalette.Color(15));   // VOC "person"
        Assert.Equal(((byte)224, (byte)224, (byte)192), SegmentationPalette.Color(255));  // VOC border
        Assert.Equal(15, SegmentationPalette.LabelOf(192, 128, 128));
        Assert.Equal(-1, SegmentationPalette.LabelOf(1, 2, 3));
    }

    [Fact]
    public void PalettePngRoundTripsAndShowsPaletteColoursToOtherDecoders()
    {
        var rng = new Random(5);
        int h = 7, w = 13;
        var labels = new byte[h * w];
        for (int i = 0; i < labels.Length; i++) labels[i] = (byte)(rng.Next(3) == 0 ? 255 : rng.Next(21));
        var png = LabelPng.Encode(labels, h, w);
        var (back, bh, bw) = LabelPng.Decode(png, "mem");
        Assert.Equal((h, w), (bh, bw));
        Assert.Equal(labels, back);
        // SkiaSharp (libpng) checks chunk CRCs and zlib; it expands the palette to the VOC colours.
        using var bmp = SKBitmap.Decode(png);
        Assert.NotNull(bmp);
        for (int i = 0; i < labels.Length; i++)
        {
            var c = bmp.GetPixel(i % w, i / w);
            Assert.Equal(SegmentationPalette.Color(labels[i]), (c.Red, c.Green, c.Blue));
        }
    }

    [Fact]
    public void GrayPngGivesItsValuesWhateverRowFilters()
    {
        using var dir = new TempDir();
        int h = 9, w = 11;
        var values = new byte[h * w];
        for (int i = 0; i < values.Length; i++) values[i] = (byte)((i * 7 + i / w * 3) % 151);
        // libpng's adaptive filtering picks Sub/Up/Average/Paeth rows for such a gradient.
        ImageDecoder.Save(new ImageSample(values.Select(v => v / 255f).ToArray(), 1, h, w, 0), dir.File("g.png"));
        var (labels, lh, lw) = LabelPng.Read(dir.File("g.png"));
        Assert.Equal((h, w), (lh, lw));
        Assert.Equal(values, labels);
    }

    [Fact]
    public void RgbMaskMapsBackThroughTheVocPalette()
    {
        using var dir = new TempDir();
        byte[] labels = [0, 1, 15, 255, 2, 20];
        var rgb = new float[18];
        for (int i = 0; i < 6; i++)
        {
            var (r, g, b) = SegmentationPalette.Color(labels[i]);
            rgb[i] = r / 255f; rgb[6 + i] = g / 255f; rgb[12 + i] = b / 255f;
        }
        ImageDecoder.Save(new ImageSample(rgb, 3, 2, 3, 0), dir.File("c.png"));
        Assert.Equal(labels, LabelPng.Read(dir.File("c.png")).Labels);
        rgb[0] = 0.5f; // pixel 0 becomes (128, 3, 0), no VOC colour
        rgb[6] = 0.01f;
        ImageDecoder.Save(new ImageSample(rgb, 3, 2, 3, 0), dir.File("bad.png"));
        var e = Assert.Throws<InvalidDataException>(() => LabelPng.Read(dir.File("bad.png")));
        Assert.Contains("bad.png", e.Message);
        Assert.Contains("VOC palette", e.Message);
    }
}
