using VisionSsm.Data;

namespace VisionSsm.Tests.Data;

public class CifarDatasetTests
{
    /// <summary>n records: label bytes then 3072 pixels where pixel j of record r = (r + j) mod 256.</summary>
    static byte[] Records(int n, Func<int, byte[]> labels)
    {
        var list = new List<byte>();
        for (int r = 0; r < n; r++)
        {
            list.AddRange(labels(r));
            for (int j = 0; j < 3072; j++) list.Add((byte)((r + j) % 256));
        }
        return list.ToArray();
    }

    [Fact]
    public void Cifar10ReadsBatchesInOrderWithNames()
    {
        using var dir = new TempDir();
        for (int b = 1; b <= 5; b++) File.WriteAllBytes(dir.File($"data_batch_{b}.bin"), Records(2, r => [(byte)(b + r)]));
        File.WriteAllBytes(dir.File("test_batch.bin"), Records(3, r => [(byte)r]));
        File.WriteAllLines(dir.File("batches.meta.txt"), ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck", ""]);
        var train = new Cifar10Dataset(dir.Path, train: true);
        Assert.Equal(10, train.Count);
        Assert.Equal(10, train.Classes.Count);
        var s = train.Get(5); // batch 3, record 1
        Assert.Equal(3 + 1, s.Label);
        Assert.Equal((3, 32, 32), (s.Channels, s.Height, s.Width));
        Assert.Equal((1 + 1024) % 256 / 255f, s.Pixels[1024]); // first green pixel: byte j = 1024 of record 1
        var test = new Cifar10Dataset(dir.Path, train: false);
        Assert.Equal(3, test.Count);
        Assert.Equal("bird", test.Classes[test.Get(2).Label]);
    }

    [Fact]
    public void Cifar100UsesFineOrCoarseLabel()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("train.bin"), Records(4, r => [(byte)(r + 1), (byte)(50 + r)]));
        var fine = new Cifar100Dataset(dir.Path, train: true);
        Assert.Equal(52, fine.Get(2).Label);
        Assert.Equal(100, fine.Classes.Count);
        var coarse = new Cifar100Dataset(dir.Path, train: true, coarseLabels: true);
        Assert.Equal(3, coarse.Get(2).Label);
        Assert.Equal(20, coarse.Classes.Count);
    }

    [Fact]
    public void TruncatedFileAndMissingFileAreClear()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("test_batch.bin"), Records(2, r => [0])[..^5]);
        var e = Assert.Throws<InvalidDataException>(() => new Cifar10Dataset(dir.Path, train: false));
        Assert.Contains("test_batch.bin", e.Message);
        var e2 = Assert.Throws<FileNotFoundException>(() => new Cifar10Dataset(dir.Path, train: true));
        Assert.Contains("data_batch_1.bin", e2.Message);
    }
}
