using VisionSsm.Interop;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Interop;

public class PretrainedWeightsTests
{
    static string TempFile(string ext) => Path.Combine(Path.GetTempPath(), $"vssm-{Guid.NewGuid():N}{ext}");

    /// <summary>A nano model's weights as an official half-precision file would hold them (integer buffers kept).</summary>
    static Dictionary<string, Tensor> HalfState(VisionModel m, ScalarType half) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? kv.Value.detach().to(half) : kv.Value.detach().clone());

    [Fact]
    public void ConfigObjectsOfUnknownClassesLoadAsInertPlaceholders()
    {
        string path = TempFile(".pth");
        try
        {
            OfficialCheckpointFile.Write(path, new Dictionary<string, Tensor> { ["w"] = arange(6, dtype: ScalarType.Float16).reshape(2, 3) });
            var root = (Dictionary<object, object?>)PyTorchCheckpoint.Load(path)!;
            var config = Assert.IsType<PickleObject>(root["config"]);
            Assert.Equal("yacs.config.CfgNode", config.Type.FullName);
            Assert.Equal("vssm1_tiny_0230s", config.Items["NAME"]);
            Assert.Equal(0.2, config.Items["DROP_PATH_RATE"]);
            Assert.Equal(true, ((Dictionary<object, object?>)config.State!)["__immutable__"]);   // BUILD kept apart from the items
            Assert.Equal("yacs.config.CfgNode", Assert.IsType<PickleObject>(config.Items["MODEL"]).Type.FullName);
            var args = Assert.IsType<PickleObject>(root["args"]);
            Assert.Equal(5e-4, ((Dictionary<object, object?>)args.State!)["lr"]);
            var accuracy = Assert.IsType<PickleObject>(root["max_accuracy"]);
            Assert.Equal("numpy.core.multiarray.scalar", accuracy.Type.FullName);
            Assert.Equal(82.6, BitConverter.ToDouble((byte[])accuracy.Args[1]!));
            Assert.Equal(new object?[] { 1.5, 0.25 }, Assert.IsType<PickleObject>(root["history"]).ListItems);
            Assert.IsType<PickleObject>(root["scaler"]);
            Assert.Equal(new List<object?> { 1L, 2L }, root["frozen"]);
            Assert.Equal(299L, root["epoch"]);
            var sd = PyTorchCheckpoint.LoadStateDict(path);
            Assert.Equal(ScalarType.Float16, sd["w"].dtype);
            Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, sd["w"].to(ScalarType.Float32).data<float>().ToArray());
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("vmamba_nano", ".pth")]
    [InlineData("vim_nano", ".pth")]
    [InlineData("vgamba_nano", ".pth")]
    [InlineData("resnet_nano", ".pth")]
    [InlineData("deit_nano", ".pth")]
    [InlineData("vim_nano", ".safetensors")]
    [InlineData("resnet_nano", ".safetensors")]
    public void EveryFamilyLoadsAHalfPrecisionOfficialFileByName(string name, string ext)
    {
        string path = TempFile(ext);
        using var source = ModelZoo.Create(name, new ModelOptions(7, InChannels: 1));
        var half = ext == ".pth" ? ScalarType.Float16 : ScalarType.BFloat16;
        var state = HalfState(source, half);
        try
        {
            if (ext == ".pth") OfficialCheckpointFile.Write(path, state);
            else Safetensors.Save(path, state);
            Assert.True(PretrainedWeights.IsWeightsFile(path));
            using var model = PretrainedWeights.Create(name, path, new ModelOptions(InChannels: 1, Dtype: ScalarType.Float64));
            Assert.Equal(7, model.NumClasses);                               // the head's width comes from the file
            foreach (var (key, t) in model.state_dict())
            {
                var expected = state[key];
                Assert.Equal(expected.is_floating_point() ? ScalarType.Float64 : expected.dtype, t.dtype);
                Assert.True(t.equal(expected.to(t.dtype)).all().item<bool>(), key);
            }
            using var x = randn([1, 1, 28, 28], dtype: ScalarType.Float64);
            using var _ = no_grad();
            Assert.Equal([1L, 7], model.call(x).shape);
        }
        finally
        {
            File.Delete(path);
            foreach (var t in state.Values) t.Dispose();
        }
    }

    [Fact]
    public void AnotherModelsFileNamesTheDifferingKeys()
    {
        string path = TempFile(".pth");
        using var source = ModelZoo.Create("deit_nano", new ModelOptions(4, InChannels: 1));
        try
        {
            OfficialCheckpointFile.Write(path, HalfState(source, ScalarType.Float16));
            var ex = Assert.Throws<InvalidDataException>(() => PretrainedWeights.Create("vim_nano", path, new ModelOptions(InChannels: 1)));
            Assert.Contains("missing keys", ex.Message);
            Assert.Contains("unexpected keys", ex.Message);
            Assert.Contains("blocks.0.attn.proj.bias", ex.Message);   // DeiT's, unknown to Vim
            var noHead = HalfState(source, ScalarType.Float16);
            noHead.Remove("head.weight");
            noHead.Remove("head.bias");
            Safetensors.Save(path + ".safetensors", noHead);
            var missing = Assert.Throws<InvalidDataException>(() => PretrainedWeights.Create("deit_nano", path + ".safetensors", new ModelOptions(InChannels: 1)));
            Assert.Contains("head.weight", missing.Message);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".safetensors");
        }
    }

    [Fact]
    public void PositionEmbeddingIsResampledToTheBuiltSize()
    {
        string path = TempFile(".pth");
        using var source = ModelZoo.Create("vim_nano", new ModelOptions(3, InChannels: 1));   // 28²: 7 × 7 patches
        try
        {
            OfficialCheckpointFile.Write(path, HalfState(source, ScalarType.Float16));
            using var model = (Vim)PretrainedWeights.Create("vim_nano", path, new ModelOptions(InChannels: 1, ImageSize: 32));
            Assert.Equal([1L, 65, 96], model.state_dict()["pos_embed"].shape);                 // 8 × 8 + class token
            // The middle class token's embedding moves from index 24 to index 32 unchanged.
            var before = source.state_dict()["pos_embed"].to(ScalarType.Float16).to(ScalarType.Float32)[0, 24];
            Assert.True(allclose(model.state_dict()["pos_embed"][0, 32], before));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DdpPrefixIsDropped()
    {
        string path = TempFile(".safetensors");
        try
        {
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["module.a"] = ones(2), ["module.b.c"] = zeros(1) });
            Assert.Equal(["a", "b.c"], PretrainedWeights.ReadStateDict(path).Keys.Order().ToArray());
        }
        finally { File.Delete(path); }
    }
}
