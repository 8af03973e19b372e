using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Data;

namespace VisionSsm.Tests.Segmentation.Data;

public class FashionMnistCanvasTests
{
    static readonly CanvasOptions Unscaled = new() { MinScale = 1, MaxScale = 1, TrainCount = 12, TestCount = 12 };

    [Fact]
    public void SameSeedGivesTheSameCanvasesAndEachCanvasStandsAlone()
    {
        using var dir = new TempDir();
        CanvasFixture.Write(dir.Path);
        var o = new CanvasOptions { TrainCount = 6, TestCount = 4, Seed = 3 };
        var a = FashionMnistCanvas.Open(true, o, dir.Path);
        var b = FashionMnistCanvas.Open(true, o, dir.Path);
        var longer = FashionMnistCanvas.Open(true, o with { TrainCount = 50 }, dir.Path);
        var otherSeed = FashionMnistCanvas.Open(true, o with { Seed = 4 }, dir.Path);
        int differ = 0;
        for (int i = 0; i < 6; i++)
        {
            var s = a.Get(i);
            Assert.Equal(s.Pixels, b.Get(i).Pixels);
            Assert.Equal(s.Mask, b.Get(i).Mask);
            Assert.Equal(s.Mask, longer.Get(i).Mask);   // canvas i depends on (seed, split, i) only
            if (!s.Mask.AsSpan().SequenceEqual(otherSeed.Get(i).Mask)) differ++;
        }
        Assert.True(differ >= 5, $"only {differ} of 6 canvases changed with the seed");
        Assert.Equal(11, a.Classes.Count);
        Assert.Equal("background", a.Classes[0]);
        Assert.Equal("Ankle boot", a.Classes[10]);
    }

    [Fact]
    public void UnscaledLabelsAreTheTopmostInkedItemsClassPlusOne()
    {
        using var dir = new TempDir();
        CanvasFixture.Write(dir.Path);
        var ds = FashionMnistCanvas.Open(false, Unscaled, dir.Path);
        for (int i = 0; i < ds.Count; i++)
        {
            var items = ds.Items(i);
            Assert.InRange(items.Count, 2, 4);
            var s = ds.Get(i);
            Assert.Equal((1, 64, 64), (s.Channels, s.Height, s.Width));
            // Independent drawing from the raw idx bytes: later items overwrite where their byte/255 ≥ 0.1.
            var px = new float[64 * 64];
            var lab = new byte[64 * 64];
            foreach (var it in items)
            {
                Assert.Equal(28, it.Side);
                Assert.InRange(it.X, 0, 64 - 28);
                Assert.InRange(it.Y, 0, 64 - 28);
                var raw = CanvasFixture.Raw(dir.Path, false, it.SourceIndex);
                Assert.Equal(it.SourceIndex % 10, it.ClassIndex);
                for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    if (raw[y * 28 + x] < 25.5) continue;
                    px[(it.Y + y) * 64 + it.X + x] = raw[y * 28 + x] / 255f;
                    lab[(it.Y + y) * 64 + it.X + x] = (byte)(it.ClassIndex + 1);
                }
            }
            Assert.Equal(lab, s.Mask);
            for (int p = 0; p < px.Length; p++) Assert.Equal(px[p], s.Pixels[p], 5);
        }
    }

    [Fact]
    public void ScaledCanvasesLabelExactlyTheInkedPixels()
    {
        using var dir = new TempDir();
        CanvasFixture.Write(dir.Path);
        var o = new CanvasOptions { TrainCount = 20, Channels = 3 };
        var ds = FashionMnistCanvas.Open(true, o, dir.Path);
        for (int i = 0; i < ds.Count; i++)
        {
            var s = ds.Get(i);
            var items = ds.Items(i);
            Assert.Equal(3, s.Channels);
            for (int p = 0; p < 64 * 64; p++)
            {
                Assert.Equal(s.Pixels[p], s.Pixels[4096 + p]);
                Assert.Equal(s.Pixels[p], s.Pixels[8192 + p]);
                Assert.Equal(s.Mask[p] != 0, s.Pixels[p] >= 0.1f);
                if (s.Mask[p] == 0) { Assert.Equal(0f, s.Pixels[p]); continue; }
                // The label is the class of the last item whose box holds the pixel and whose class matches, and no
                // later item's box covers it with a different class unless that item had no ink there.
                int x = p % 64, y = p / 64;
                Assert.Contains(items, it => it.ClassIndex + 1 == s.Mask[p] && x >= it.X && x < it.X + it.Side && y >= it.Y && y < it.Y + it.Side);
            }
            foreach (var it in items) Assert.InRange(it.Side, 21, 42);
        }
    }

    [Fact]
    public void TrainAndTestCanvasesDrawFromTheirOwnSplits()
    {
        using var dir = new TempDir();
        CanvasFixture.Write(dir.Path);
        foreach (bool train in new[] { true, false })
        {
            var ds = FashionMnistCanvas.Open(train, Unscaled, dir.Path);
            var used = new HashSet<string>();
            for (int i = 0; i < ds.Count; i++)
            {
                foreach (var p in ds.Get(i).Pixels.Where(v => v > 0))
                    Assert.InRange(p, train ? 0.30f : 0.65f, train ? 0.55f : 0.90f);
                foreach (var it in ds.Items(i)) used.Add(Convert.ToBase64String(CanvasFixture.Raw(dir.Path, train, it.SourceIndex)));
            }
            Assert.True(used.Count > 10);
        }
    }

    [Fact]
    public void WritesThePlainLayoutOnceAndReadsBack()
    {
        using var dir = new TempDir();
        string fm = Directory.CreateDirectory(Path.Combine(dir.Path, "fm")).FullName;
        CanvasFixture.Write(fm);
        var o = new CanvasOptions { TrainCount = 5, TestCount = 3 };
        string outDir = Path.Combine(dir.Path, "canvases");
        Assert.True(CanvasWriter.Write(outDir + Path.DirectorySeparatorChar, o, fm));   // a trailing separator names the same folder
        Assert.Equal(5, Directory.GetFiles(Path.Combine(outDir, "images", "train")).Length);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(outDir, "masks", "test")).Length);
        Assert.True(File.Exists(Path.Combine(outDir, CanvasWriter.ManifestName)));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".tmp-*"));
        var mem = FashionMnistCanvas.Open(false, o, fm);
        for (int i = 0; i < 3; i++)
        {
            var s = mem.Get(i);
            var img = ImageDecoder.Decode(Path.Combine(outDir, "images", "test", CanvasWriter.FileName(i)));
            var (labels, h, w) = LabelPng.Read(Path.Combine(outDir, "masks", "test", CanvasWriter.FileName(i)));
            Assert.Equal((64, 64, 64, 64, 1), (h, w, img.Height, img.Width, img.Channels));
            Assert.Equal(s.Mask, labels);
            for (int p = 0; p < s.Pixels.Length; p++) Assert.Equal(s.Pixels[p], img.Pixels[p], 0.5f / 255 + 1e-6f);
        }
        Assert.False(CanvasWriter.Write(outDir, o, fm));                      // same settings: kept as is
        var e = Assert.Throws<IOException>(() => CanvasWriter.Write(outDir, o with { Seed = 9 }, fm));
        Assert.Contains("not empty", e.Message);
    }

    /// <summary>
    /// The plan follows the documented draw order (count; per item source, scale, then (x, y) draws): with no cap the
    /// first position stands; with a cap, positions are drawn until the square overlaps each earlier square by at most
    /// the cap × the smaller square's area, at most <see cref="CanvasOptions.PositionDraws"/> draws, and the least
    /// overlapping draw stands.
    /// </summary>
    [Theory]
    [InlineData(1.0, 2, 4)]
    [InlineData(0.2, 2, 4)]
    [InlineData(0.2, 2, 3)]
    [InlineData(0.0, 2, 4)]
    public void PlanFollowsTheDocumentedDrawsAndTheOverlapCap(double cap, int minItems, int maxItems)
    {
        var o = new CanvasOptions { MaxOverlap = cap, Seed = 5, MinItems = minItems, MaxItems = maxItems };
        int within = 0, later = 0;
        for (int i = 0; i < 300; i++)
        {
            var plan = FashionMnistCanvas.Plan(o, train: true, i, sourceCount: 100, labelOf: s => s % 10);
            var rng = SeedMixer.Rng(o.Seed, 1, i);
            Assert.Equal(rng.Next(o.MinItems, o.MaxItems + 1), plan.Count);
            for (int k = 0; k < plan.Count; k++)
            {
                var it = plan[k];
                Assert.Equal(rng.Next(100), it.SourceIndex);
                Assert.Equal(o.MinScale + rng.NextDouble() * (o.MaxScale - o.MinScale), it.Scale);
                int side = it.Side;
                // Largest share of the smaller square covered by the intersection with an earlier square, pixel by pixel.
                double Worst(int x, int y)
                {
                    double worst = 0;
                    for (int j = 0; j < k; j++)
                    {
                        var p = plan[j];
                        int shared = 0;
                        for (int py = y; py < y + side; py++)
                        for (int px = x; px < x + side; px++)
                            if (px >= p.X && px < p.X + p.Side && py >= p.Y && py < p.Y + p.Side) shared++;
                        worst = Math.Max(worst, shared / (double)(Math.Min(side, p.Side) * Math.Min(side, p.Side)));
                    }
                    return worst;
                }
                var draws = new List<(int X, int Y, double W)>();
                for (int d = 0; d < (cap >= 1 ? 1 : CanvasOptions.PositionDraws); d++)
                {
                    int x = rng.Next(o.Size - side + 1), y = rng.Next(o.Size - side + 1);
                    draws.Add((x, y, Worst(x, y)));
                    if (draws[^1].W <= cap) break;
                }
                var kept = draws.First(d => d.W == draws.Min(e => e.W));
                Assert.Equal((kept.X, kept.Y), (it.X, it.Y));
                if (k > 0) { later++; if (kept.W <= cap) within++; }
            }
        }
        if (cap is > 0 and < 1) Assert.True(within > 0, "no item placed within the cap");
    }

    [Fact]
    public void BadOptionsNameTheSetting()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CanvasOptions { Size = 32, MaxScale = 1.5 }.Validate());
        Assert.Equal("MaxScale", e.ParamName);
        Assert.Equal("Channels", Assert.Throws<ArgumentOutOfRangeException>(() => new CanvasOptions { Channels = 2 }.Validate()).ParamName);
        Assert.Equal("MinItems", Assert.Throws<ArgumentOutOfRangeException>(() => new CanvasOptions { MinItems = 3, MaxItems = 2 }.Validate()).ParamName);
        Assert.Equal("MaxOverlap", Assert.Throws<ArgumentOutOfRangeException>(() => new CanvasOptions { MaxOverlap = 1.5 }.Validate()).ParamName);
    }

    [SkippableFact]
    public void PackagedFashionMnistComposes()
    {
        Skip.IfNot(FashionMnist.IsInstalled(), "the dataset-fashion-mnist package is not installed");
        var test = FashionMnistCanvas.Open(false);
        Assert.Equal(1000, test.Count);
        var s = test.Get(0);
        Assert.Contains(s.Mask, m => m > 0);
        for (int p = 0; p < s.Mask.Length; p++) Assert.Equal(s.Mask[p] != 0, s.Pixels[p] >= 0.1f);
    }
}
