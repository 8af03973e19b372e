using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

/// <summary><see cref="VisionModel.TapLevels"/>: every family routes its levels through the tap without changing its output.</summary>
public class LevelTapTests
{
    public static TheoryData<string, int> Families => new()
    {
        { "vmamba_nano", 30 }, { "resnet_nano", 30 }, { "vgamba_nano", 20 }, { "vim_nano", 20 }, { "deit_nano", 20 },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void TapSeesTheIntermediatesAndKeepsTheOutput(string name, int size)
    {
        using var scope = NewDisposeScope();
        using var m = ModelZoo.Create(name, new ModelOptions(4, InChannels: 1, ImageSize: size, Dtype: ScalarType.Float64));
        m.eval();
        var x = randn([2, 1, size, size], dtype: ScalarType.Float64);
        int levels = m.FeatureInfo.Count;
        Tensor plain;
        IReadOnlyList<Tensor> expected;
        using (no_grad())
        {
            plain = m.forward(x);
            expected = m.ForwardIntermediates(x, Enumerable.Range(0, levels).ToList());
        }
        var seen = new Dictionary<int, Tensor>();
        Tensor tapped;
        using (m.TapLevels((i, map) => { seen[i] = map.detach().clone().DetachFromDisposeScope(); return map; }))
            tapped = m.forward(x);
        Assert.True(tapped.allclose(plain, rtol: 1e-12, atol: 1e-12), $"{name}: the tap changed the logits");
        Assert.Equal(Enumerable.Range(0, levels), seen.Keys.Order());
        for (int i = 0; i < levels; i++)
        {
            Assert.True(seen[i].allclose(expected[i], rtol: 1e-12, atol: 1e-12), $"{name}: level {i} differs from ForwardIntermediates");
            seen[i].Dispose();
        }
        // ForwardIntermediates under a tap returns the same maps.
        using (no_grad())
        using (m.TapLevels((_, t) => t))
        {
            var again = m.ForwardIntermediates(x, Enumerable.Range(0, levels).ToList());
            for (int i = 0; i < levels; i++) Assert.True(again[i].allclose(expected[i], rtol: 1e-12, atol: 1e-12), $"{name}: tapped level {i}");
        }
        // The handle removes the tap; a second tap while one is set is refused.
        using (m.TapLevels((_, t) => t))
            Assert.Throws<InvalidOperationException>(() => m.TapLevels((_, t) => t));
        using (m.TapLevels((_, t) => t)) { }
    }

    /// <summary>ResNet's head is a global average pool and a linear layer: d logit_k / d layer4[c, y, x] = fc.weight[k, c] / (h·w).</summary>
    [Fact]
    public void GradientThroughTheTapMatchesTheHead()
    {
        using var scope = NewDisposeScope();
        using var m = ModelZoo.Create("resnet_nano", new ModelOptions(3, InChannels: 1, ImageSize: 16, Dtype: ScalarType.Float64));
        m.eval();
        int last = m.FeatureInfo.Count - 1;
        Tensor? level = null;
        Tensor logits;
        using (m.TapLevels((i, map) => { if (i == last) level = map.alias().DetachFromDisposeScope(); return map; }))
            logits = m.forward(randn([1, 1, 16, 16], dtype: ScalarType.Float64));
        using var a = level!;
        var g = autograd.grad([logits[0, 2]], [a])[0];
        long hw = a.shape[2] * a.shape[3];
        var w = m.named_parameters().First(p => p.name == "fc.weight").parameter[2].detach();   // (C,)
        var expected = VisionSsm.Runtime.Scalars.Over(w.reshape(1, -1, 1, 1).expand_as(g), hw);
        Assert.True(g.allclose(expected, rtol: 1e-12, atol: 1e-15));
    }
}
