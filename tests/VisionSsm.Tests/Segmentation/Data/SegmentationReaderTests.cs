using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Data;

namespace VisionSsm.Tests.Segmentation.Data;

public class SegmentationReaderTests
{
    const int H = 6, W = 8;

    static ImageSample Rgb(int seed)
    {
        var rng = new Random(seed);
        var px = new float[3 * H * W];
        for (int i = 0; i < px.Length; i++) px[i] = rng.Next(256) / 255f;
        return new ImageSample(px, 3, H, W, 0);
    }

    static byte[] Labels(int seed, int max, int h = H, int w = W)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, h * w).Select(_ => (byte)rng.Next(max + 1)).ToArray();
    }

    static void GrayPng(string path, byte[] values, int h = H, int w = W)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageDecoder.Save(new ImageSample(values.Select(v => v / 255f).ToArray(), 1, h, w, 0), path);
    }

    static string Dir(string root, params string[] parts) => Directory.CreateDirectory(Path.Combine([root, .. parts])).FullName;

    [Fact]
    public void PlainFoldersPairByStemPerSplit()
    {
        using var tmp = new TempDir();
        var labels = new Dictionary<string, byte[]>();
        foreach (var (split, names) in new[] { ("train", new[] { "b", "a" }), ("val", new[] { "c" }) })
            foreach (var n in names)
            {
                ImageDecoder.Save(Rgb(n[0]), Path.Combine(Dir(tmp.Path, "images", split), n + ".png"));
                labels[n] = Labels(n[0], 2);
                labels[n][0] = 255;
                LabelPng.Write(Path.Combine(Dir(tmp.Path, "masks", split), n + ".png"), labels[n], H, W);
            }
        File.WriteAllLines(tmp.File("classes.txt"), ["bg", "x", "y"]);
        Assert.Equal(SegmentationLayout.Folders, SegmentationDirectory.Detect(tmp.Path));
        var train = SegmentationDirectory.Open(tmp.Path, train: true);
        var val = SegmentationDirectory.Open(tmp.Path, train: false);
        Assert.Equal(["bg", "x", "y"], train.Classes);
        Assert.Equal(2, train.Count);
        Assert.Single(Enumerable.Range(0, val.Count));
        var a = train.Get(0);                                    // ordinal order: a before b
        Assert.Equal(labels["a"], a.Mask);
        Assert.Equal((3, H, W), (a.Channels, a.Height, a.Width));
        Assert.Equal(Rgb('a').Pixels, a.Pixels);                  // PNG is lossless
        Assert.Equal(labels["c"], val.Get(0).Mask);
    }

    [Fact]
    public void PlainFolderErrorsAreClear()
    {
        using var tmp = new TempDir();
        string images = Dir(tmp.Path, "images"), masks = Dir(tmp.Path, "masks");
        string[] classes = ["bg", "fg"];
        Assert.Contains("no image files", Assert.Throws<InvalidDataException>(() => SegmentationFolders.Open(images, masks, classes)).Message);

        ImageDecoder.Save(Rgb(1), Path.Combine(images, "one.jpg"));
        ImageDecoder.Save(Rgb(2), Path.Combine(images, "two.jpg"));
        LabelPng.Write(Path.Combine(masks, "one.png"), Labels(1, 1), H, W);
        LabelPng.Write(Path.Combine(masks, "three.png"), Labels(3, 1), H, W);
        var e = Assert.Throws<InvalidDataException>(() => SegmentationFolders.Open(images, masks, classes));
        Assert.Contains("images without a mask", e.Message);
        Assert.Contains("two", e.Message);
        Assert.Contains("masks without an image", e.Message);
        Assert.Contains("three", e.Message);

        File.Delete(Path.Combine(images, "two.jpg"));
        File.Delete(Path.Combine(masks, "three.png"));
        LabelPng.Write(Path.Combine(masks, "one.png"), Labels(1, 1, H + 1, W), H + 1, W);   // wrong size
        var ds = SegmentationFolders.Open(images, masks, classes);
        var size = Assert.Throws<InvalidDataException>(() => ds.Get(0));
        Assert.Contains("one.png", size.Message);
        Assert.Contains($"{W}×{H + 1}", size.Message);

        var bad = Labels(1, 1);
        bad[5] = 2;                                                                             // 2 classes: 0, 1 (or 255)
        LabelPng.Write(Path.Combine(masks, "one.png"), bad, H, W);
        var range = Assert.Throws<InvalidDataException>(() => ds.ValidateAll());
        Assert.Contains("label 2", range.Message);
        Assert.Contains("out of range for 2 classes", range.Message);

        Assert.Contains("classes.txt", Assert.Throws<FileNotFoundException>(() => SegmentationFolders.Open(tmp.Path, true)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => SegmentationDirectory.Detect(images));
    }

    [Fact]
    public void Ade20kReducesTheZeroLabel()
    {
        using var tmp = new TempDir();
        var stored = Labels(4, 150);
        stored[0] = 0; stored[1] = 1; stored[2] = 150;
        ImageDecoder.Save(Rgb(4), Path.Combine(Dir(tmp.Path, "images", "validation"), "ADE_val_00000001.jpg"));
        GrayPng(Path.Combine(Dir(tmp.Path, "annotations", "validation"), "ADE_val_00000001.png"), stored);
        Dir(tmp.Path, "images", "training");
        Dir(tmp.Path, "annotations", "training");
        Assert.Equal(SegmentationLayout.Ade20k, SegmentationDirectory.Detect(tmp.Path));
        var ds = SegmentationDirectory.Open(tmp.Path, train: false);
        Assert.Equal(150, ds.Classes.Count);
        Assert.Equal("flag", ds.Classes[149]);
        var s = ds.Get(0);
        for (int i = 0; i < stored.Length; i++) Assert.Equal(stored[i] == 0 ? 255 : stored[i] - 1, s.Mask[i]);
        Assert.Equal((255, 0, 149), (s.Mask[0], s.Mask[1], s.Mask[2]));
        // A JPEG is lossy, but the decoded image keeps its size and stays in [0, 1].
        Assert.Equal((3, H, W), (s.Channels, s.Height, s.Width));
        Assert.Contains("no image files", Assert.Throws<InvalidDataException>(() => Ade20k.Open(tmp.Path, train: true)).Message);

        stored[3] = 151;                                                                        // → 150: out of range
        GrayPng(Path.Combine(tmp.Path, "annotations", "validation", "ADE_val_00000001.png"), stored);
        var e = Assert.Throws<InvalidDataException>(() => ds.Get(0));
        Assert.Contains("label 150", e.Message);
        Assert.Contains("reduce-zero-label", e.Message);
    }

    [Fact]
    public void PascalVocReadsPaletteIndicesAndItsLists()
    {
        using var tmp = new TempDir();
        string voc = Dir(tmp.Path, "VOCdevkit", "VOC2012");
        var labels = Labels(7, 20);
        labels[0] = 255; labels[1] = 15;
        ImageDecoder.Save(Rgb(7), Path.Combine(Dir(voc, "JPEGImages"), "2007_000032.jpg"));
        LabelPng.Write(Path.Combine(Dir(voc, "SegmentationClass"), "2007_000032.png"), labels, H, W);
        string sets = Dir(voc, "ImageSets", "Segmentation");
        File.WriteAllLines(Path.Combine(sets, "train.txt"), ["2007_000032", ""]);
        File.WriteAllLines(Path.Combine(sets, "val.txt"), ["2007_000033"]);
        Assert.Equal(SegmentationLayout.PascalVoc, SegmentationDirectory.Detect(tmp.Path));
        var ds = SegmentationDirectory.Open(tmp.Path, train: true);
        Assert.Equal(21, ds.Classes.Count);
        Assert.Equal("person", ds.Classes[15]);
        Assert.Equal(labels, ds.Get(0).Mask);
        var missing = Assert.Throws<FileNotFoundException>(() => PascalVoc.Open(tmp.Path, train: false));
        Assert.Contains("2007_000033.jpg", missing.Message);
        File.WriteAllText(Path.Combine(sets, "val.txt"), "\n");
        Assert.Contains("lists no image ids", Assert.Throws<InvalidDataException>(() => PascalVoc.Open(voc, train: false)).Message);
    }

    [Fact]
    public void ComposedCanvasesReadBackThroughTheDirectoryReader()
    {
        using var tmp = new TempDir();
        string fm = Dir(tmp.Path, "fm");
        CanvasFixture.Write(fm);
        string outDir = Path.Combine(tmp.Path, "canvases");
        var o = new CanvasOptions { TrainCount = 3, TestCount = 2 };
        CanvasWriter.Write(outDir, o, fm);
        var ds = SegmentationDirectory.Open(outDir, train: false, channels: 0);
        Assert.Equal(FashionMnistCanvas.ClassNames, ds.Classes);
        Assert.Equal(1, ds.Channels);
        Assert.Equal(FashionMnistCanvas.Open(false, o, fm).Get(1).Mask, ds.Get(1).Mask);
    }
}
