using VisionSsm.Analysis;
using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Training;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Analysis;

public class ResolutionStudyTests
{
    /// <summary>Eight 1×28×28 noise images, labels i % 4.</summary>
    sealed class NoiseDataset : IImageDataset
    {
        public int Count => 8;
        public IReadOnlyList<string> Classes { get; } = ["a", "b", "c", "d"];
        public ImageSample Get(int index)
        {
            var rng = new Random(index);
            return new ImageSample(Enumerable.Range(0, 28 * 28).Select(_ => (float)rng.NextDouble()).ToArray(), 1, 28, 28, index % 4);
        }
    }

    static InferenceModel Model(string name)
    {
        manual_seed(2);
        var net = ModelZoo.Create(name, new ModelOptions(4, 1, 28, 0));
        net.eval();
        return new InferenceModel(net, name, ["a", "b", "c", "d"], VisionSsm.Training.Preprocessing.FromZoo(ModelZoo.Get(name).Preprocessing, 1), null);
    }

    [Fact]
    public void Evaluates_at_each_size_with_the_trained_weights()
    {
        using var model = Model("vmamba_nano");
        var test = new NoiseDataset();
        var seen = new List<(int Size, int Done, int Total)>();
        var rows = ResolutionStudy.Run(model, test, [28, 56], batchSize: 4, images: (s, d, t) => seen.Add((s, d, t)));
        Assert.Equal([28, 56], rows.Select(r => r.Size));
        // Progress after each batch of 4: 4, 8, … up to every test image, at each size.
        int batches = (test.Count + 3) / 4;
        Assert.Equal(Enumerable.Range(1, batches).Select(i => Math.Min(4 * i, test.Count)).Concat(Enumerable.Range(1, batches).Select(i => Math.Min(4 * i, test.Count))),
            seen.Select(p => p.Done));
        Assert.Equal(Enumerable.Repeat(28, batches).Concat(Enumerable.Repeat(56, batches)), seen.Select(p => p.Size));
        Assert.All(seen, p => Assert.Equal(test.Count, p.Total));
        Assert.Equal([true, false], rows.Select(r => r.Trained));
        Assert.All(rows, r => Assert.InRange(r.Top1, 0, 100));
        using var big = ResolutionStudy.AtSize(model, 56);
        using var scope = NewDisposeScope();
        Assert.Equal([1L, 4L], big.call(randn(1, 1, 56, 56)).shape);
        // No position embedding: every weight is carried over unchanged.
        var a = model.Net.state_dict();
        foreach (var (k, v) in big.state_dict()) Assert.True(v.equal(a[k]).all().item<bool>(), k);
        Assert.Contains("(trained)", ResolutionStudy.Format(rows));
    }

    [Fact]
    public void Vim_position_embedding_is_resampled_keeping_the_middle_class_token()
    {
        using var model = Model("vim_nano");                     // patch 4: a 7×7 grid at 28², 14×14 at 56²
        using var big = ResolutionStudy.AtSize(model, 56);
        using var scope = NewDisposeScope();
        var old = model.Net.state_dict()["pos_embed"];
        var now = big.state_dict()["pos_embed"];
        Assert.Equal([1L, 14 * 14 + 1, 96], now.shape);
        Assert.True(now.equal(Vim.ResamplePosEmbed(old, 14)).all().item<bool>());
        // The class token's entry moves from M/2 = 24 to 98 unchanged.
        Assert.True(now[0, 98].equal(old[0, 24]).all().item<bool>());
        Assert.Equal([1L, 4L], big.call(randn(1, 1, 56, 56)).shape);
    }

    [Fact]
    public void Impossible_sizes_are_clear_errors()
    {
        using var deit = Model("deit_nano");
        var e = Assert.Throws<ArgumentException>(() => ResolutionStudy.AtSize(deit, 30));   // patch 4 does not divide 30
        Assert.Contains("--size 30", e.Message);
        using var gamba = Model("vgamba_nano");
        var g = Assert.Throws<ArgumentException>(() => ResolutionStudy.AtSize(gamba, 56));
        Assert.Contains("--size 56", g.Message);
        Assert.Throws<ArgumentException>(() => ResolutionStudy.CheckSizes([28, 0]));
        Assert.Throws<ArgumentException>(() => ResolutionStudy.CheckSizes([]));
    }
}
