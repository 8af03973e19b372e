using VisionSsm.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Interop;

public class PyTorchCheckpointTests
{
    // Written by PyTorch 1.13's torch.save (Fixtures/make_fixtures.py); the expected values are that script's formulas.
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Interop", "Fixtures", name);

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static float[] F(Tensor t) => t.to(ScalarType.Float32).contiguous().data<float>().ToArray();

    [Fact]
    public void ReadsEveryDtypeLayoutAndSharedStorageWrittenByPyTorch()
    {
        var sd = PyTorchCheckpoint.LoadStateDict(Fixture("state_dict.pt"));
        Assert.Equal(10, sd.Count);
        Assert.Equal(new long[] { 3, 4 }, sd["weight"].shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i / 8f), F(sd["weight"]));
        // (arange(6).reshape(2,3) - 2).t(): element [i, j] = 3j + i - 2
        Assert.Equal(new long[] { 3, 2 }, sd["transposed"].shape);
        Assert.Equal(new float[] { -2, 1, -1, 2, 0, 3 }, F(sd["transposed"]));
        Assert.Equal(new float[] { 1.0f, 1.5f, 2.0f }, F(sd["slice"]));          // big[2:5], big = arange(10)·0.5
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 0.5f), F(sd["big"]));
        Assert.Equal(ScalarType.Float16, sd["half"].dtype);
        Assert.Equal(new float[] { 1.5f, -2.25f }, F(sd["half"]));
        Assert.Equal(ScalarType.BFloat16, sd["bf16"].dtype);
        Assert.Equal(new float[] { 0.5f, 3f }, F(sd["bf16"]));
        Assert.Equal(new[] { 1e-3, 2e10 }, sd["double"].data<double>().ToArray());
        Assert.Equal(0, sd["num_batches_tracked"].dim());
        Assert.Equal(7L, sd["num_batches_tracked"].item<long>());
        Assert.Equal(new[] { true, false, true }, sd["mask"].data<bool>().ToArray());
        Assert.Equal(new float[] { -1, -1 }, F(sd["param"]));
    }

    [Fact]
    public void ReadsATrainingCheckpointDictAndPicksTheModelEntry()
    {
        var root = (Dictionary<object, object?>)PyTorchCheckpoint.Load(Fixture("checkpoint.pt"))!;
        Assert.Equal(3L, root["epoch"]);
        var args = Assert.IsType<PickleObject>(root["args"]);
        Assert.Equal("argparse.Namespace", args.Type.FullName);
        Assert.Equal(0.001, ((Dictionary<object, object?>)args.State!)["lr"]);
        var sd = PyTorchCheckpoint.LoadStateDict(Fixture("checkpoint.pt"));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i / 8f), F(sd["weight"]));
    }

    [Fact]
    public void WrittenStateDictReadsBackIdentically()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vssm-{Guid.NewGuid():N}.pt");
        try
        {
            var original = PyTorchCheckpoint.LoadStateDict(Fixture("state_dict.pt"));
            original["strided"] = arange(24, dtype: ScalarType.Float32).reshape(2, 3, 4).permute(2, 0, 1);
            PyTorchCheckpoint.SaveStateDict(path, original);
            var back = PyTorchCheckpoint.LoadStateDict(path);
            Assert.Equal(original.Keys.OrderBy(k => k), back.Keys.OrderBy(k => k));
            foreach (var (k, v) in original)
            {
                Assert.Equal(v.dtype, back[k].dtype);
                Assert.True(Same(v, back[k]), k);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void SafetensorsRoundTripKeepsDtypesShapesAndValues()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vssm-{Guid.NewGuid():N}.safetensors");
        try
        {
            var original = PyTorchCheckpoint.LoadStateDict(Fixture("state_dict.pt"));
            Safetensors.Save(path, original, new Dictionary<string, string> { ["format"] = "pt" });
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0, (8 + (long)BitConverter.ToUInt64(bytes, 0)) % 8);   // data section 8-byte aligned
            var back = Safetensors.Load(path);
            foreach (var (k, v) in original)
                Assert.True(v.dtype == back[k].dtype && Same(v, back[k]), k);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void StateDictLoaderNamesMissingUnexpectedAndMisshapenKeys()
    {
        using var model = nn.Sequential(("fc", nn.Linear(4, 3)), ("norm", nn.LayerNorm(3)));
        var sd = new Dictionary<string, Tensor>
        {
            ["fc.weight"] = ones(3, 4), ["fc.bias"] = ones(5), ["norm.weight"] = full(3, 2f), ["extra.weight"] = ones(1),
        };
        var e = Assert.Throws<InvalidDataException>(() => StateDictLoader.Load(model, sd));
        Assert.Contains("norm.bias", e.Message);          // missing
        Assert.Contains("extra.weight", e.Message);       // unexpected
        Assert.Contains("fc.bias (model [3], file [5])", e.Message);

        var diff = StateDictLoader.Load(model, sd, strict: false);
        Assert.False(diff.IsExact);
        Assert.Equal(new float[] { 2, 2, 2 }, F(model.get_parameter("norm.weight")!));   // matching keys were copied
        Assert.Equal(Enumerable.Repeat(1f, 12), F(model.get_parameter("fc.weight")!));
    }

    [Fact]
    public void BadFilesGiveClearErrors()
    {
        Assert.Throws<FileNotFoundException>(() => PyTorchCheckpoint.Load("/nonexistent/x.pt"));
        string path = Path.Combine(Path.GetTempPath(), $"vssm-{Guid.NewGuid():N}.pt");
        try
        {
            File.WriteAllBytes(path, [0x80, 0x02, 0x8a, 0x0a]);   // a legacy (non-zip) pickle header
            var e = Assert.Throws<InvalidDataException>(() => PyTorchCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
