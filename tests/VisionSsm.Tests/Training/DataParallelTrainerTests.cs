using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Tests.Cli;
using VisionSsm.Training;

namespace VisionSsm.Tests.Training;

/// <summary>The trainer's data-parallel step: repeatable with drop path, resumable, and for BatchNorm models only with 8 images per shard.</summary>
[Collection(SerialTrainingCollection.Name)]
public class DataParallelTrainerTests
{
    static readonly TrainConfig Config = new()
    {
        Model = "deit_nano", Epochs = 1, BatchSize = 16, Lr = 2e-3, WarmupEpochs = 0.5, Seed = 11, DropPath = 0.3, Threads = 1, MaxSteps = 3,
    };

    static (TrainingData Data, TrainConfig Config) TinyData(TrainConfig config)
    {
        string dir = CliHarness.WriteIdx(CliHarness.TempDir("idx"));
        return (RunData.Open(config with { Data = dir }), config with { Data = dir });
    }

    static void AssertSameModel(RunFolder a, RunFolder b)
    {
        using var x = Checkpoint.Load(a.LastCheckpointPath);
        using var y = Checkpoint.Load(b.LastCheckpointPath);
        foreach (var (k, v) in x.Model) Assert.True(v.shape.SequenceEqual(y.Model[k].shape) && v.eq(y.Model[k]).all().item<bool>(), k);
    }

    static RunFolder Train(TrainConfig config, TrainingData data, int shards)
    {
        var run = new RunFolder(CliHarness.TempDir("dp"));
        using var t = Trainer.Start(config, ModelZoo.Get(config.Model), data, run);
        t.DataParallelShards = shards;
        t.Run();
        Assert.Equal(shards, t.StepShards);
        return run;
    }

    [Fact]
    public void ShardedRunsWithDropPathAreRepeatableAndResumeLikeAnUninterruptedRun()
    {
        var (data, config) = TinyData(Config);
        var first = Train(config, data, 3);
        var second = Train(config, data, 3);
        AssertSameModel(first, second);

        // Interrupted after step 2 (Ctrl+C), then resumed to step 3: the same weights as the straight run.
        using var cts = new CancellationTokenSource();
        var cut = new RunFolder(CliHarness.TempDir("dp-cut"));
        using (var t = Trainer.Start(config, ModelZoo.Get(config.Model), data, cut))
        {
            t.DataParallelShards = 3;
            t.Progress += p => { if (p.Step == 2) cts.Cancel(); };
            Assert.Equal(2, t.Run(cts.Token).Steps);
        }
        var info = Trainer.ReadRunInfo(cut);
        Assert.Equal(2L, info.Step);
        using (var t = Trainer.Resume(cut, ModelZoo.Get(config.Model), RunData.Open(info.Config, info.Preprocessing)))
        {
            t.DataParallelShards = 3;
            t.Run();
            Assert.Equal(3, t.StepShards);
        }
        AssertSameModel(first, cut);
    }

    [Theory]
    [InlineData(8, 1)]     // 4 images per shard: too few for the shards' BatchNorm statistics
    [InlineData(16, 2)]
    public void ABatchNormModelShardsOnlyWithEightImagesPerShard(int batch, int expectedShards)
    {
        var (data, config) = TinyData(Config with { Model = "resnet_nano", BatchSize = batch, MaxSteps = 1 });
        var run = new RunFolder(CliHarness.TempDir("dp-bn"));
        using var t = Trainer.Start(config, ModelZoo.Get("resnet_nano"), data, run);
        t.DataParallelShards = 2;
        t.Run();
        Assert.Equal(expectedShards, t.StepShards);
    }
}
