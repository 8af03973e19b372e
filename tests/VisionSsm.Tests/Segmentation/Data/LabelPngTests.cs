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

    /// <summary>A 2-bit palette PNG built by hand (rows filtered None, Sub, Up, Paeth): the decoder unpacks 4 pixels per byte.</summary>
    [Fact]
    public void TwoBitPalettePngGivesItsIndices()
    {
        int w = 5, h = 4;
        var labels = Enumerable.Range(0, w * h).Select(i => (byte)((i * 3 + i / w) % 4)).ToArray();
        int rowBytes = 2;   // ⌈5·2/8⌉
        var rows = new byte[h][];
        for (int y = 0; y < h; y++)
        {
            rows[y] = new byte[rowBytes];
            for (int x = 0; x < w; x++) rows[y][x / 4] |= (byte)(labels[y * w + x] << (6 - 2 * (x % 4)));
        }
        using var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            byte filter = (byte)(y == 0 ? 0 : y == 1 ? 1 : y == 2 ? 2 : 4);
            raw.WriteByte(filter);
            for (int i = 0; i < rowBytes; i++)
            {
                int a = i > 0 ? rows[y][i - 1] : 0, b = y > 0 ? rows[y - 1][i] : 0, c = i > 0 && y > 0 ? rows[y - 1][i - 1] : 0;
                int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                int pred = filter switch { 0 => 0, 1 => a, 2 => b, _ => pa <= pb && pa <= pc ? a : pb <= pc ? b : c };
                raw.WriteByte((byte)(rows[y][i] - pred));
            }
        }
        using var z = new MemoryStream();
        using (var zs = new System.IO.Compression.ZLibStream(z, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) zs.Write(raw.ToArray());
        using var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        void Chunk(string kind, byte[] data)
        {
            png.Write([(byte)(data.Length >> 24), (byte)(data.Length >> 16), (byte)(data.Length >> 8), (byte)data.Length]);
            png.Write(System.Text.Encoding.ASCII.GetBytes(kind));
            png.Write(data);
            png.Write([0, 0, 0, 0]);   // CRC not checked by this reader
        }
        Chunk("IHDR", [0, 0, 0, (byte)w, 0, 0, 0, (byte)h, 2, 3, 0, 0, 0]);
        Chunk("PLTE", [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]);
        Chunk("IDAT", z.ToArray());
        Chunk("IEND", []);
        var (decoded, dh, dw) = LabelPng.Decode(png.ToArray(), "hand.png");
        Assert.Equal((h, w), (dh, dw));
        Assert.Equal(labels, decoded);
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
