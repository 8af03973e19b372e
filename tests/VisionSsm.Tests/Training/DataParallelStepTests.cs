using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Tests.Cli;
using VisionSsm.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Tests.Training;

/// <summary>The data-parallel training step against the serial step (plain <c>loss.backward()</c> on the whole batch).</summary>
[Collection(SerialTrainingCollection.Name)]
public class DataParallelStepTests
{
    static Module<Tensor, Tensor> Build(string family, double dropPath)
    {
        var o = new ModelOptions(NumClasses: 5, InChannels: 1, ImageSize: 16, DropPathRate: dropPath, Dtype: ScalarType.Float64);
        return family switch
        {
            "vmamba" => new VMamba(new VMambaConfig([8, 16, 16, 16], [1, 1, 1, 1], SsmRatio: 1.0, StemStride: 2), o),
            "vim" => new Vim(new VimConfig(EmbedDim: 16, Depth: 2, PatchSize: 4, ImageSize: 16, DState: 4), o),
            "deit" => new Vit(new VitConfig(EmbedDim: 16, Depth: 2, Heads: 2, PatchSize: 4, ImageSize: 16), o),
            _ => throw new ArgumentException(family),
        };
    }

    static void CopyParameters(Module from, Module to)
    {
        using var _ = no_grad();
        foreach (var ((na, a), (nb, b)) in from.named_parameters().Zip(to.named_parameters()))
        {
            Assert.Equal(na, nb);
            b.copy_(a);
        }
    }

    static Tensor Loss(Tensor logits, Tensor targets) => Losses.CrossEntropy(logits, targets, 0.1);

    [Theory]
    [InlineData("vmamba", 2)]
    [InlineData("vmamba", 3)]
    [InlineData("vim", 3)]
    [InlineData("deit", 2)]
    public void OneShardedStepEqualsTheSerialStepAfterAdamW(string family, int shards)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        using var serial = Build(family, 0);
        using var parallel = Build(family, 0);
        CopyParameters(serial, parallel);
        serial.train();
        parallel.train();
        var x = randn(7, 1, 16, 16, dtype: ScalarType.Float64);     // 7 images: shards of 4+3 or 3+2+2
        var y = tensor(new long[] { 0, 1, 2, 3, 4, 0, 1 });

        var sp = serial.parameters().ToList();
        using var optA = optim.AdamW(sp, lr: 1e-2, weight_decay: 0.05);
        var loss = Loss(serial.forward(x), y);
        double serialLoss = loss.item<double>();
        optA.zero_grad();
        loss.backward();
        optA.step();

        var pp = parallel.parameters().ToList();
        using var optB = optim.AdamW(pp, lr: 1e-2, weight_decay: 0.05);
        var r = DataParallelStep.ComputeGradients(parallel, pp, x, y, y, Loss, shards, seed: 3);
        optB.step();

        Assert.Equal(serialLoss, r.Loss, 1e-12 * Math.Abs(serialLoss));
        foreach (var ((name, a), (_, b)) in serial.named_parameters().Zip(parallel.named_parameters()))
        {
            double diff = (a - b).norm().item<double>(), size = a.norm().item<double>();
            // AdamW's first step moves an element by lr·g/(|g| + ε): a rounding δ in g moves it by up to lr·δ/ε, so the
            // bound allows lr·1e-9 (δ ≈ 1e-17 at ε = 1e-8) besides the parameters' own relative rounding.
            Assert.True(diff <= 1e-12 * size + 1e-2 * 1e-9, $"{name}: ‖Δ‖ = {diff:g3}, ‖p‖ = {size:g3}");
        }
        // The step moved the parameters (the comparison above is not of two untouched copies).
        Assert.Contains(pp, p => p.grad is not null && p.grad.abs().max().item<double>() > 0);
    }

    [Fact]
    public void TheTopOneCountAndGradientsCoverEveryShard()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        using var model = Build("deit", 0);
        model.train();
        var x = randn(5, 1, 16, 16, dtype: ScalarType.Float64);
        var y = tensor(new long[] { 0, 1, 2, 3, 4 });
        long expected;
        using (no_grad()) expected = model.forward(x).argmax(1).eq(y).sum().item<long>();
        var r = DataParallelStep.ComputeGradients(model, model.parameters().ToList(), x, y, y, Loss, 3, seed: 1);
        Assert.Equal(expected, r.Correct);
    }

    [Fact]
    public void DropPathMasksAreRepeatableAndDifferBetweenShards()
    {
        // Two sharded steps with the same seed draw the same masks (bit-identical gradients); another seed draws others.
        Tensor[] Grads(long seed)
        {
            random.manual_seed(8);
            using var model = Build("vmamba", 0.5);
            model.train();
            random.manual_seed(9);
            var x = randn(6, 1, 16, 16, dtype: ScalarType.Float64);
            var y = tensor(new long[] { 0, 1, 2, 3, 4, 0 });
            var ps = model.parameters().ToList();
            DataParallelStep.ComputeGradients(model, ps, x, y, y, Loss, 3, seed);
            return ps.Select(p => p.grad!.clone().MoveToOuterDisposeScope()).ToArray();
        }
        using var scope = NewDisposeScope();
        Tensor[] a, b, c;
        using (NewDisposeScope()) a = Grads(42);
        using (NewDisposeScope()) b = Grads(42);
        using (NewDisposeScope()) c = Grads(43);
        Assert.All(a.Zip(b), g => Assert.True(g.First.eq(g.Second).all().item<bool>()));
        Assert.Contains(a.Zip(c), g => !g.First.eq(g.Second).all().item<bool>());
    }

    [Fact]
    public void ShardsAreContiguousAndAsEvenAsPossible()
    {
        Assert.Equal(new (long, long)[] { (0, 3), (3, 2), (5, 2) }, DataParallelStep.Split(7, 3));
        Assert.Equal(new (long, long)[] { (0, 48), (48, 48) }, DataParallelStep.Split(96, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataParallelStep.Split(2, 3));
    }

    [Fact]
    public void BatchNormModelsShardOnlyWithEightImagesPerShardAndShardAwareLayers()
    {
        using var vmamba = ModelZoo.Create("vmamba_nano", new ModelOptions(10, 1, 28));
        using var resnet = ModelZoo.Create("resnet_nano", new ModelOptions(10, 1, 28));
        using var torchBn = Sequential(("conv", Conv2d(1, 4, 3)), ("bn", BatchNorm2d(4)));
        Assert.False(DataParallelStep.HasBatchNorm(vmamba));
        Assert.True(DataParallelStep.HasBatchNorm(resnet));
        var on = KernelOptions.Default;
        Assert.Equal(2, DataParallelStep.ShardCount(vmamba, 96, 2, CPU, on));
        Assert.Equal(2, DataParallelStep.ShardCount(resnet, 96, 2, CPU, on));
        Assert.Equal(2, DataParallelStep.ShardCount(resnet, 16, 2, CPU, on));
        Assert.Equal(1, DataParallelStep.ShardCount(resnet, 15, 2, CPU, on));      // 7 + 8 images: a shard below 8
        Assert.Equal(1, DataParallelStep.ShardCount(torchBn, 96, 2, CPU, on));     // TorchSharp's BatchNorm2d is not shard-aware
        Assert.Equal(1, DataParallelStep.ShardCount(vmamba, 96, 1, CPU, on));
        Assert.Equal(1, DataParallelStep.ShardCount(vmamba, 1, 2, CPU, on));
        Assert.Equal(1, DataParallelStep.ShardCount(vmamba, 96, 2, CPU, KernelOptions.Parse("dataparallel=off")));
        Assert.False(KernelOptions.Reference.DataParallel);
    }

    static Module<Tensor, Tensor> BatchNormNet() => Sequential(
        ("conv", Conv2d(1, 4, 3, padding: 1)), ("bn", new global::VisionSsm.Layers.OwnedScalarBatchNorm2d(4)), ("relu", ReLU()),
        ("pool", AdaptiveAvgPool2d(1)), ("flat", Flatten()), ("fc", Linear(4, 3))).to(ScalarType.Float64);

    [Fact]
    public void BatchNormShardsUseTheirOwnStatisticsAndOnlyShardZeroUpdatesTheRunningOnes()
    {
        // DistributedDataParallel without SyncBN: replica s normalises shard s with shard s's statistics; the buffers
        // that survive are rank 0's. Reference: copies of the model run one shard each, serially, on this thread.
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        using var model = BatchNormNet();
        using var perShard = BatchNormNet();
        using var shardZero = BatchNormNet();
        using var whole = BatchNormNet();
        foreach (var m in new[] { perShard, shardZero, whole }) CopyParameters(model, m);
        foreach (var m in new[] { model, perShard, shardZero, whole }) m.train();
        var x = randn(5, 1, 6, 6, dtype: ScalarType.Float64) * 3 + 1;
        var y = tensor(new long[] { 0, 1, 2, 0, 1 });

        var ps = model.parameters().ToList();
        var r = DataParallelStep.ComputeGradients(model, ps, x, y, y, Loss, 2, seed: 1);     // shards of 3 + 2 images

        double expectedLoss = 0;
        foreach (var (start, n) in DataParallelStep.Split(5, 2))
        {
            var l = Loss(perShard.forward(x.narrow(0, start, n)), y.narrow(0, start, n)) * ((double)n / 5);
            expectedLoss += l.item<double>();
            l.backward();   // accumulates: Σ_s (n_s / B) ∇ loss_s
        }
        Loss(shardZero.forward(x.narrow(0, 0, 3)), y.narrow(0, 0, 3));
        Loss(whole.forward(x), y).backward();

        Assert.Equal(expectedLoss, r.Loss, 1e-12);
        foreach (var ((name, a), (_, b)) in model.named_parameters().Zip(perShard.named_parameters()))
            Assert.True((a.grad! - b.grad!).abs().max().item<double>() <= 1e-12, $"{name}: the sharded gradient is not the per-shard reference's");
        // Per-shard statistics are another function than whole-batch BatchNorm: the conv's gradient differs from the serial step's.
        Assert.True((model.named_parameters().First().parameter.grad! - whole.named_parameters().First().parameter.grad!).abs().max().item<double>() > 1e-6);
        foreach (var ((name, a), (_, b)) in model.named_buffers().Zip(shardZero.named_buffers()))
            Assert.True(a.to(ScalarType.Float64).sub(b.to(ScalarType.Float64)).abs().max().item<double>() <= 1e-12, $"{name}: not shard 0's running statistics");
        Assert.Equal(1L, model.named_buffers().Single(b => b.name.EndsWith("num_batches_tracked")).buffer.item<long>());
    }
}
