using VisionSsm.Segmentation.Training;
using VisionSsm.Tests.Cli;
using VisionSsm.Training;

namespace VisionSsm.Tests.Segmentation.Training;

/// <summary>The segmentation trainer's data-parallel step (UperNet has BatchNorm): taken with 8 images per shard,
/// repeatable, and a run cut and resumed ends with the weights of the straight run.</summary>
[Collection(SerialTrainingCollection.Name)]
public class SegmentationDataParallelTests
{
    static SegmentationTrainConfig Config(string data) => new()
    {
        Model = "upernet_vmamba_nano", Data = data, CropSize = 24, BatchSize = 16, Iterations = 3, WarmupIters = 1, EvalInterval = 100,
        EvalLimit = 2, Threads = 1, Seed = 5,
    };

    static void AssertSameModel(RunFolder a, RunFolder b)
    {
        using var x = Checkpoint.Load(a.LastCheckpointPath);
        using var y = Checkpoint.Load(b.LastCheckpointPath);
        foreach (var (k, v) in x.Model) Assert.True(v.shape.SequenceEqual(y.Model[k].shape) && v.eq(y.Model[k]).all().item<bool>(), k);
    }

    static RunFolder Train(SegmentationTrainConfig config, string name, int shards = 2)
    {
        var run = new RunFolder(CliHarness.TempDir(name));
        using var t = SegmentationTrainer.Start(config, run);
        t.DataParallelShards = shards;
        Assert.True(t.Run().Completed);
        Assert.Equal(shards, t.StepShards);
        return run;
    }

    [Fact]
    public void ShardedRunsAreRepeatableAndResumeLikeAStraightRun()
    {
        string data = SegmentCliTests.WriteFolders(CliHarness.TempDir("seg-dp-data"), train: 16);
        var config = Config(data);
        var first = Train(config, "seg-dp-a");
        AssertSameModel(first, Train(config, "seg-dp-b"));

        var cut = new RunFolder(CliHarness.TempDir("seg-dp-cut"));
        using (var t = SegmentationTrainer.Start(config with { MaxSteps = 2 }, cut))
        {
            t.DataParallelShards = 2;
            Assert.False(t.Run().Completed);
        }
        using (var t = SegmentationTrainer.Resume(cut, c => c with { MaxSteps = null }))
        {
            t.DataParallelShards = 2;
            Assert.True(t.Run().Completed);
            Assert.Equal(2, t.StepShards);
        }
        AssertSameModel(first, cut);
    }
}
