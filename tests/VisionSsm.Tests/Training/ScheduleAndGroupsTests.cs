using TorchSharp;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

public class WarmupCosineScheduleTests
{
    [Fact]
    public void MatchesTheWarmupAndCosineFormulas()
    {
        // base 1e-3, warmup_lr 1e-6, min_lr 1e-5, W = 10, T = 110 (timm CosineLRScheduler, warmup_prefix).
        var s = new WarmupCosineSchedule(1e-3, 110, 10, 1e-6, 1e-5);
        Assert.Equal(1e-6, s.At(0), 15);
        Assert.Equal(1e-6 + 5 * (1e-3 - 1e-6) / 10, s.At(5), 15);
        Assert.Equal(1e-3, s.At(10), 15);                                   // cos(0) = 1
        Assert.Equal(1e-5 + 0.5 * (1e-3 - 1e-5), s.At(60), 15);             // half-way: cos(π/2) = 0
        Assert.Equal(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.Cos(Math.PI * 25 / 100)), s.At(35), 15);
        Assert.Equal(1e-5, s.At(110), 15);
        for (long t = 11; t < 110; t++) Assert.True(s.At(t) < s.At(t - 1));
    }

    [Fact]
    public void RejectsBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, 10, 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(0, 10, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, 0, 0));
    }
}

public class OptimizerFactoryTests
{
    [Theory]
    // docs/training.md §1: no decay for 1-D, biases, pos_embed, cls_token, D/D_b/Ds; A_log(s), x/dt projections decayed.
    [InlineData("layers.0.blocks.0.op.Ds", new long[] { 384 }, true)]
    [InlineData("layers.0.blocks.0.op.A_logs", new long[] { 384, 1 }, false)]
    [InlineData("layers.0.blocks.0.op.x_proj_weight", new long[] { 4, 40, 96 }, false)]
    [InlineData("layers.0.blocks.0.op.dt_projs_weight", new long[] { 4, 96, 6 }, false)]
    [InlineData("layers.0.blocks.0.op.dt_projs_bias", new long[] { 4, 96 }, false)]
    [InlineData("pos_embed", new long[] { 1, 197, 192 }, true)]
    [InlineData("cls_token", new long[] { 1, 1, 192 }, true)]
    [InlineData("layers.3.mixer.D", new long[] { 384 }, true)]
    [InlineData("layers.3.mixer.D_b", new long[] { 2, 384 }, true)]
    [InlineData("layers.3.mixer.A_b_log", new long[] { 384, 16 }, false)]
    [InlineData("head.weight", new long[] { 10, 96 }, false)]
    [InlineData("head.bias", new long[] { 10 }, true)]
    [InlineData("patch_embed.proj.bias", new long[] { 96 }, true)]
    [InlineData("norm.weight", new long[] { 96 }, true)]
    [InlineData("conv1.weight", new long[] { 16, 1, 3, 3 }, false)]
    public void GroupsByNameAndShape(string name, long[] shape, bool noDecay) =>
        Assert.Equal(noDecay, OptimizerFactory.IsNoDecay(name, shape));

    sealed class Tiny : nn.Module<Tensor, Tensor>
    {
        readonly TorchSharp.Modules.Linear fc = nn.Linear(3, 2);
        readonly TorchSharp.Modules.Parameter pos_embed = nn.Parameter(zeros(1, 4, 3));
        readonly TorchSharp.Modules.Parameter A_log = nn.Parameter(zeros(3, 2));
        public Tiny() : base("tiny") => RegisterComponents();
        public override Tensor forward(Tensor x) => fc.forward(x);
    }

    [Fact]
    public void BuildsTwoGroupsWithTheirWeightDecay()
    {
        using var m = new Tiny();
        var (decay, noDecay) = OptimizerFactory.Split(m);
        Assert.Equal(new[] { "fc.weight", "A_log" }.Order(), decay.Order());
        Assert.Equal(new[] { "fc.bias", "pos_embed" }.Order(), noDecay.Order());
        using var opt = OptimizerFactory.Create(m, new TrainConfig { WeightDecay = 0.05, Lr = 1e-3 });
        var groups = opt.ParamGroups.ToList();
        Assert.Equal(2, groups.Count);
        Assert.Equal(0.05, ((TorchSharp.Modules.AdamW.ParamGroup)groups[0]).Options.weight_decay);
        Assert.Equal(0.0, ((TorchSharp.Modules.AdamW.ParamGroup)groups[1]).Options.weight_decay);
        OptimizerFactory.SetLearningRate(opt, 0.123);
        Assert.All(groups, g => Assert.Equal(0.123, g.LearningRate));
    }
}
