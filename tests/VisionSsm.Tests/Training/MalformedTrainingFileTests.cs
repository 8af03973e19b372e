using System.Text;
using System.Text.Json;
using VisionSsm.Runtime;
using VisionSsm.Tests.Data;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

/// <summary>Regression tests for what the reader fuzzer found in our own files: checkpoint sizes are checked against
/// the file before allocating, and run-folder JSON errors name the file (and line).</summary>
public class MalformedTrainingFileTests
{
    static readonly CheckpointInfo Info = new()
    {
        ModelName = "m", Classes = ["a", "b"], Config = new TrainConfig(), Preprocessing = new Preprocessing(1, 8, [0.5f], [0.5f]),
    };

    /// <summary>A checkpoint file written field by field: header, <paramref name="json"/>, then <paramref name="model"/> writes the model section.</summary>
    static string Ckpt(TempDir dir, string json, Action<BinaryWriter> model)
    {
        string path = dir.File("x.ckpt");
        using var w = new BinaryWriter(File.Create(path), Encoding.UTF8);
        w.Write("VSSMCKPT"u8);
        w.Write(1);
        w.Write(json);
        model(w);
        w.Write(false); w.Write(-1); w.Write(false); w.Write("VSSMCKPT"u8);
        return path;
    }

    static void OneTensor(BinaryWriter w, long[] shape, int length, int dataBytes)
    {
        w.Write(1);
        w.Write("w");
        w.Write((int)ScalarType.Float32);
        w.Write(shape.Length);
        foreach (long s in shape) w.Write(s);
        w.Write(length);
        w.Write(new byte[dataBytes]);
    }

    static readonly string Json = JsonSerializer.Serialize(Info, TrainConfig.Json);

    [Fact]
    public void AWellFormedHandWrittenCheckpointLoads()
    {
        using var dir = new TempDir();
        using var c = Checkpoint.Load(Ckpt(dir, Json, w => OneTensor(w, [2], 8, 8)));
        Assert.Equal([2L], c.Model["w"].shape);
    }

    [Theory]
    [InlineData(new long[] { 2 }, int.MaxValue, 8, "expected 8")]            // a 2 GB length in a small file (was allocated by ReadBytes)
    [InlineData(new long[] { 1L << 40 }, 8, 8, "needs more")]                // a 4 TB shape (was passed to empty())
    [InlineData(new long[] { -2 }, 8, 8, "negative")]
    [InlineData(new long[] { 4 }, 16, 0, "declares 16 bytes")]               // length matches the shape, not the file
    public void DeclaredSizesAreCheckedAgainstTheFileBeforeAllocating(long[] shape, int length, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        string path = Ckpt(dir, Json, w => OneTensor(w, shape, length, dataBytes));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AHugeTensorCountIsRejectedBeforeAllocating()
    {
        using var dir = new TempDir();
        string path = Ckpt(dir, Json, w => w.Write(int.MaxValue));   // was a Dictionary of capacity 2^31
        Assert.Contains("tensor count", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);
    }

    [Theory]
    [InlineData("classes")]
    [InlineData("modelName")]
    [InlineData("config")]
    public void MetadataWithANullMemberIsRejected(string member)
    {
        using var dir = new TempDir();
        var node = System.Text.Json.Nodes.JsonNode.Parse(Json)!;
        string key = node.AsObject().Select(kv => kv.Key).First(k => string.Equals(k, member, StringComparison.OrdinalIgnoreCase));
        node[key] = null;
        string path = Ckpt(dir, node.ToJsonString(), w => OneTensor(w, [2], 8, 8));
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains(member, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AMalformedMetricsLineNamesTheFileAndLine()
    {
        using var dir = new TempDir();
        var run = new RunFolder(dir.Path);
        run.WriteMetrics([new EpochMetrics(1, 10, 1e-3, 1, 50, 1, 50, 90, null, null, 1, 1, 1)]);
        File.AppendAllText(run.MetricsJsonlPath, "{\"Epoch\": \"two\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => run.ReadMetrics());
        Assert.Contains(run.MetricsJsonlPath, e.Message);
        Assert.Contains("line 2", e.Message);
        File.WriteAllText(run.MetricsJsonlPath, "null\n");
        Assert.Throws<InvalidDataException>(() => run.ReadMetrics());
    }

    [Fact]
    public void ConfigJsonReadsBackAndAMalformedOneNamesTheFile()
    {
        using var dir = new TempDir();
        var run = new RunFolder(dir.Path);
        var config = new TrainConfig { Model = "deit_nano", Epochs = 3, CheckpointEvery = 5 };
        run.WriteConfig(config);
        Assert.Equal(config, run.ReadConfig());
        File.WriteAllText(run.ConfigPath, "{\"Epochs\": [1]}");
        Assert.Contains(run.ConfigPath, Assert.Throws<InvalidDataException>(() => run.ReadConfig()).Message);
    }

    [Fact]
    public void AFailedWriteNamesTheTargetAndKeepsThePreviousFile()
    {
        using var dir = new TempDir();
        string path = dir.File("last.ckpt");
        File.WriteAllText(path, "previous");
        AtomicFile.BeforeRename = _ => throw new IOException("No space left on device");   // what a full disk gives
        try
        {
            var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllText(path, "new"));
            Assert.Contains(path, e.Message);
            Assert.Contains("No space left on device", e.Message);
            Assert.Contains("previous version of the file is unchanged", e.Message);
        }
        finally { AtomicFile.BeforeRename = null; }
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(dir.Path, AtomicFile.TempPrefix + "*"));
    }

    [Fact]
    public void ResumingDeletesTempFilesOfAKilledWrite()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("last.ckpt"), "x");
        File.WriteAllText(dir.File(AtomicFile.TempPrefix + "0123-last.ckpt"), "half a checkpoint");
        RunFolder.OpenExisting(dir.Path);
        Assert.Empty(Directory.GetFiles(dir.Path, AtomicFile.TempPrefix + "*"));
        Assert.True(File.Exists(dir.File("last.ckpt")));
    }
}
