using VisionSsm.Data;
using static VisionSsm.Tests.Data.TransformTestImages;

namespace VisionSsm.Tests.Data;

public class ImageFolderDatasetTests
{
    static void MakeFolder(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "cat"));
        Directory.CreateDirectory(Path.Combine(root, "dog"));
        // exact levels k/255 survive PNG round trips
        ImageDecoder.Save(Of(3, 6, 8, (c, y, x) => (10 * c + y + 3 * x) / 255f), Path.Combine(root, "cat", "a.png"));
        ImageDecoder.Save(Of(3, 5, 7, (c, y, x) => 0.5f), Path.Combine(root, "dog", "b.jpg"), jpegQuality: 95);
        File.WriteAllBytes(Path.Combine(root, "dog", "c.png"), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]); // corrupt
        File.WriteAllText(Path.Combine(root, "dog", "notes.txt"), "ignored");
    }

    [Fact]
    public void ListsClassesAndDecodesPngExactlyAndJpegApproximately()
    {
        using var dir = new TempDir();
        MakeFolder(dir.Path);
        var ds = new ImageFolderDataset(dir.Path);
        Assert.Equal(["cat", "dog"], ds.Classes);
        Assert.Equal(3, ds.Count);
        var png = ds.Get(0);
        Assert.Equal((3, 6, 8, 0), (png.Channels, png.Height, png.Width, png.Label));
        Assert.Equal((10 * 2 + 4 + 3 * 5) / 255f, At(png, 2, 4, 5));
        var jpg = ds.Get(1);
        Assert.Equal((3, 5, 7, 1), (jpg.Channels, jpg.Height, jpg.Width, jpg.Label));
        Assert.All(jpg.Pixels, v => Assert.InRange(v, 0.5f - 3 / 255f, 0.5f + 3 / 255f));
        var e = Assert.Throws<ImageReadException>(() => ds.Get(2));
        Assert.Equal(ds.PathOf(2), e.Path);
        Assert.Contains("c.png", e.Message);
    }

    [Fact]
    public void GrayscaleFilesAndChannelConversion()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("x"));
        ImageDecoder.Save(Of(1, 4, 4, (_, y, x) => (y * 4 + x) / 255f), Path.Combine(dir.Path, "x", "g.png"));
        var auto = new ImageFolderDataset(dir.Path, channels: 0);
        Assert.Equal(1, auto.Channels);
        Assert.Equal(7 / 255f, At(auto.Get(0), 0, 1, 3));
        var rgb = new ImageFolderDataset(dir.Path, channels: 3).Get(0);
        Assert.Equal(3, rgb.Channels);
        Assert.Equal(7 / 255f, At(rgb, 2, 1, 3));
    }

    [Fact]
    public void LoaderSkipsAndCountsTheCorruptFile()
    {
        using var dir = new TempDir();
        MakeFolder(dir.Path);
        var ds = new ImageFolderDataset(dir.Path);
        var loader = new PrefetchLoader(ds, new LoaderOptions
        {
            BatchSize = 2, Shuffle = false, SampleTransform = new VisionSsm.Data.Transforms.ResizeTo(4),
        });
        var labels = new List<long>();
        foreach (var b in loader.Epoch(0)) using (b) labels.AddRange(b.Labels.data<long>().ToArray());
        Assert.Equal([0L, 1L], labels);
        Assert.Equal(1, loader.Skipped);
        Assert.Equal([ds.PathOf(2)], loader.SkippedPaths);
    }

    [Fact]
    public void EmptyOrMissingFolderIsAClearError()
    {
        using var dir = new TempDir();
        Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.Throws<DirectoryNotFoundException>(() => new ImageFolderDataset(dir.File("nope")));
        Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.SplitDirectory(dir.Path, train: false));
    }
}

public class DatasetDirectoryTests
{
    [Fact]
    public void DetectsEachLayoutAndExplainsUnknownOnes()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => DatasetDirectory.Detect(dir.Path));
        Assert.Contains("data_batch_1..5.bin", e.Message);

        File.WriteAllBytes(dir.File("train.bin"), new byte[2 + 3072]);
        File.WriteAllBytes(dir.File("test.bin"), new byte[2 + 3072]);
        Assert.Equal(DatasetFormat.Cifar100, DatasetDirectory.Detect(dir.Path));
        Assert.Equal(1, DatasetDirectory.Open(dir.Path, train: false).Count);

        using var folder = new TempDir();
        foreach (var split in new[] { "train", "val" })
        {
            Directory.CreateDirectory(Path.Combine(folder.Path, split, "a"));
            ImageDecoder.Save(TransformTestImages.Random(3, 4, 4), Path.Combine(folder.Path, split, "a", "x.png"));
        }
        Assert.Equal(DatasetFormat.ImageFolder, DatasetDirectory.Detect(folder.Path));
        Assert.Equal(["a"], DatasetDirectory.Open(folder.Path, train: false).Classes);

        using var idx = new TempDir();
        foreach (var p in new[] { "train", "t10k" })
        {
            IdxFile.Write(idx.File($"{p}-images-idx3-ubyte.gz"), [1, 2, 2], new byte[4], gzip: true);
            IdxFile.Write(idx.File($"{p}-labels-idx1-ubyte.gz"), [1], [3], gzip: true);
        }
        Assert.Equal(DatasetFormat.Idx, DatasetDirectory.Detect(idx.Path));
        Assert.Equal(3, DatasetDirectory.Open(idx.Path, train: true).Get(0).Label);
    }
}
