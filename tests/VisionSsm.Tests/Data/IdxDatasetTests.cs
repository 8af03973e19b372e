using VisionSsm.Data;

namespace VisionSsm.Tests.Data;

public class IdxDatasetTests
{
    static (byte[] Images, byte[] Labels) Tiny(int n, int h, int w)
    {
        var images = new byte[n * h * w];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i * 37 % 256);
        var labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte)(i % 10);
        return (images, labels);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTripsTinyFiles(bool gzip)
    {
        using var dir = new TempDir();
        var (images, labels) = Tiny(5, 3, 4);
        string sfx = gzip ? ".gz" : "";
        IdxFile.Write(dir.File("train-images-idx3-ubyte" + sfx), [5, 3, 4], images, gzip);
        IdxFile.Write(dir.File("train-labels-idx1-ubyte" + sfx), [5], labels, gzip);
        var ds = IdxDataset.Load(dir.Path, train: true);
        Assert.Equal(5, ds.Count);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], ds.Classes);
        var s = ds.Get(3);
        Assert.Equal((1, 3, 4, 3), (s.Channels, s.Height, s.Width, s.Label));
        for (int i = 0; i < 12; i++) Assert.Equal(images[3 * 12 + i] / 255f, s.Pixels[i], 6);
        if (gzip) Assert.Equal(0x1f, File.ReadAllBytes(dir.File("train-images-idx3-ubyte.gz"))[0]);
    }

    [Fact]
    public void FashionPathGetsFashionClassNames()
    {
        using var dir = new TempDir();
        string sub = Directory.CreateDirectory(Path.Combine(dir.Path, "fashion-mnist")).FullName;
        var (images, labels) = Tiny(2, 2, 2);
        IdxFile.Write(Path.Combine(sub, "t10k-images-idx3-ubyte"), [2, 2, 2], images, false);
        IdxFile.Write(Path.Combine(sub, "t10k-labels-idx1-ubyte"), [2], labels, false);
        var ds = IdxDataset.Load(sub, train: false);
        Assert.Equal("Ankle boot", ds.Classes[9]);
    }

    [Fact]
    public void BadMagicNamesTheFile()
    {
        using var dir = new TempDir();
        string img = dir.File("train-images-idx3-ubyte"), lbl = dir.File("train-labels-idx1-ubyte");
        File.WriteAllBytes(img, [0x12, 0x34, 0x08, 0x03, 0, 0, 0, 0]);
        IdxFile.Write(lbl, [0], [], false);
        var e = Assert.Throws<InvalidDataException>(() => new IdxDataset(img, lbl));
        Assert.Contains(img, e.Message);
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void SizeMismatchAndCountMismatchAreClear()
    {
        using var dir = new TempDir();
        string img = dir.File("a-images"), lbl = dir.File("a-labels");
        var (images, labels) = Tiny(4, 2, 2);
        IdxFile.Write(img, [4, 2, 2], images, false);
        File.WriteAllBytes(img, File.ReadAllBytes(img)[..^1]); // truncated data
        IdxFile.Write(lbl, [4], labels, false);
        var e = Assert.Throws<InvalidDataException>(() => new IdxDataset(img, lbl));
        Assert.Contains(img, e.Message);
        IdxFile.Write(img, [4, 2, 2], images, false);
        IdxFile.Write(lbl, [3], labels[..3], false);
        var e2 = Assert.Throws<InvalidDataException>(() => new IdxDataset(img, lbl));
        Assert.Contains("3 labels", e2.Message);
    }

    [Fact]
    public void MissingSplitFilesListTheExpectedNames()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => IdxSplit.Find(dir.Path, train: false));
        Assert.Contains("t10k-images-idx3-ubyte.gz", e.Message);
        var e2 = Assert.Throws<FileNotFoundException>(() => FashionMnist.EnsureAvailable(dir.Path));
        Assert.Contains("apt-get install -y dataset-fashion-mnist", e2.Message);
    }

    [Fact]
    public void DebianFashionMnistLoadsWhenInstalled()
    {
        if (!FashionMnist.IsInstalled()) return; // the package is optional on CI machines
        var test = FashionMnist.Load(train: false);
        Assert.Equal(10000, test.Count);
        Assert.Equal((28, 28), (test.Height, test.Width));
        var counts = new int[10];
        for (int i = 0; i < test.Count; i++) counts[test.LabelOf(i)]++;
        Assert.All(counts, c => Assert.Equal(1000, c)); // Fashion-MNIST's test split is balanced
    }
}
