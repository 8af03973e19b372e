using TorchSharp;
using VisionSsm.Segmentation.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Segmentation.Training;

/// <summary>The backbone lr multiplier of <see cref="SegmentationOptimizer"/> (mmseg's <c>custom_keys={'backbone': lr_mult}</c>).</summary>
public class SegmentationOptimizerTests
{
    static nn.Module<Tensor, Tensor> Net() => nn.Sequential(("backbone", nn.Linear(3, 3, dtype: float64)), ("decode_head", nn.Linear(3, 2, dtype: float64)));

    [Fact]
    public void Backbone_parameters_take_the_multiplied_lr_and_move_by_it_on_the_first_adam_step()
    {
        using var net = Net();
        var before = net.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        // ε tiny: the first step is lr · |g|/(|g| + ε), short of lr by ε/|g|, and the weights (hence g) come from
        // libtorch's global generator, which parallel tests also draw from, so some |g| may be small.
        using var opt = SegmentationOptimizer.Create(net, new AdamWSettings(Lr: 0.01, WeightDecay: 0, Eps: 1e-15, BackboneLrMult: 0.25));
        opt.SetLearningRate(0.01);
        Assert.Equal(new[] { 0.0025, 0.01 }, opt.Optimizer.ParamGroups.Select(g => g.LearningRate).Distinct().OrderBy(x => x));
        using var x = torch.randn(4, 3, dtype: float64, generator: new Generator(5));
        using var loss = net.call(x).square().sum();
        opt.Step(loss, net.parameters().ToList(), 0);
        // Adam's first step is lr · m̂/(√v̂ + ε) = lr · sign(g) for |g| ≫ ε, so every entry moves by its group's lr.
        foreach (var (name, p) in net.named_parameters())
        {
            double expected = name.StartsWith("backbone.", StringComparison.Ordinal) ? 0.0025 : 0.01;
            using var step = (p.detach() - before[name]).abs();
            Assert.True(step.allclose(torch.full_like(step, expected), rtol: 1e-5, atol: 0), $"{name}: steps {string.Join(", ", step.data<double>().ToArray())}, expected {expected}");
        }
        foreach (var t in before.Values) t.Dispose();
    }

    [Fact]
    public void Multiplier_one_keeps_a_single_scale_and_the_multiplier_combines_with_layer_decay()
    {
        using var net = Net();
        using (var plain = SegmentationOptimizer.Create(net, new AdamWSettings(0.01, 0.05)))
            Assert.All(plain.Scales, s => Assert.Equal(1.0, s));
        using var both = SegmentationOptimizer.Create(net, new AdamWSettings(0.01, 0.05, LayerDecay: 0.5, BackboneLrMult: 0.1));
        // No blocks (L = 0): every parameter is layer L + 1 with decay scale 1, so only the multiplier remains.
        Assert.Equal(new[] { 0.1, 1.0 }, both.Scales.Distinct().OrderBy(s => s));
        Assert.True(SegmentationOptimizer.IsBackbone("backbone.outnorm0.weight"));
        Assert.False(SegmentationOptimizer.IsBackbone("decode_head.conv_seg.weight"));
    }

    [Fact]
    public void The_multiplier_is_off_unless_asked_for()
    {
        Assert.Equal(1.0, new SegmentationTrainConfig().AdamW().BackboneLrMult);
        Assert.Equal(0.5, new SegmentationTrainConfig { BackboneLrMult = 0.5 }.AdamW().BackboneLrMult);
        Assert.All(SegmentationRecipes.All.Where(r => r.Key.EndsWith("ade20k", StringComparison.Ordinal)), r => Assert.Equal(1.0, r.Value.AdamW().BackboneLrMult));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_bad_multiplier_names_the_option(double mult)
    {
        var e = Assert.Throws<ArgumentException>(new SegmentationTrainConfig { BackboneLrMult = mult }.Validate);
        Assert.Equal("backbone-lr-mult", e.ParamName);
        Assert.Contains("--backbone-lr-mult", e.Message);
    }
}
