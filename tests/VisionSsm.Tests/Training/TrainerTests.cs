using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Tests.Cli;
using VisionSsm.Training;

namespace VisionSsm.Tests.Training;

[Collection(VisionSsm.Tests.Cli.SerialTrainingCollection.Name)]
public class TrainerTests
{
    /// <summary>Wraps a data set; after <see cref="Poisoned"/> is set, every image is NaN (to make the loss NaN).</summary>
    sealed class Poisonable(IImageDataset inner) : IImageDataset
    {
        public volatile bool Poisoned;
        public int Count => inner.Count;
        public IReadOnlyList<string> Classes => inner.Classes;
        public ImageSample Get(int index)
        {
            var s = inner.Get(index);
            return Poisoned ? s with { Pixels = Enumerable.Repeat(float.NaN, s.Pixels.Length).ToArray() } : s;
        }
    }

    static readonly TrainConfig Config = new()
    {
        Model = "deit_nano", Epochs = 2, BatchSize = 16, Lr = 2e-3, WarmupEpochs = 0.5, Seed = 11, DropPath = 0.1, Threads = 1,
    };

    static (TrainingData Data, string Dir) TinyData(TrainConfig config)
    {
        string dir = CliHarness.WriteIdx(CliHarness.TempDir("idx"));
        return (RunData.Open(config with { Data = dir }), dir);
    }

    [Fact]
    public void CancellationSavesAndResumeMatchesAnUninterruptedRun()
    {
        var (data, dir) = TinyData(Config);
        var config = Config with { Data = dir };
        var entry = ModelZoo.Get("deit_nano");
        var straight = new RunFolder(CliHarness.TempDir("straight"));
        using (var t = Trainer.Start(config, entry, data, straight)) Assert.True(t.Run().Completed);

        var interrupted = new RunFolder(CliHarness.TempDir("interrupted"));
        using var cts = new CancellationTokenSource();
        using (var t = Trainer.Start(config, entry, data, interrupted))
        {
            t.Progress += p => { if (p.Step == 5) cts.Cancel(); }; // Ctrl+C during epoch 2
            var r = t.Run(cts.Token);
            Assert.False(r.Completed);
            Assert.Equal(5, r.Steps);
        }
        var info = Trainer.ReadRunInfo(interrupted);
        Assert.Equal((1, 1, 5L), (info.Epoch, info.StepInEpoch, info.Step));
        using (var t = Trainer.Resume(interrupted, entry, RunData.Open(info.Config, info.Preprocessing)))
            Assert.True(t.Run().Completed);
        Assert.Equal(CliHarness.DeterministicMetrics(straight.Path), CliHarness.DeterministicMetrics(interrupted.Path));
    }

    [Fact]
    public void APeriodicMidEpochCheckpointResumesLikeAnUninterruptedRun()
    {
        var (data, dir) = TinyData(Config);
        var config = Config with { Data = dir, CheckpointEvery = 3 };   // 4 steps per epoch: checkpoints after steps 3 and 6
        var entry = ModelZoo.Get("deit_nano");
        var straight = new RunFolder(CliHarness.TempDir("straight"));
        var killed = new RunFolder(CliHarness.TempDir("killed"));
        using (var t = Trainer.Start(config, entry, data, straight))
        {
            // After step 7 the folder is what a SIGKILL there would leave: last.ckpt of step 6 (epoch 2, batch 2).
            t.StepCompleted += s =>
            {
                if (s != 7) return;
                foreach (var f in Directory.GetFiles(straight.Path)) File.Copy(f, Path.Combine(killed.Path, Path.GetFileName(f)));
            };
            Assert.True(t.Run().Completed);
        }
        var info = Trainer.ReadRunInfo(RunFolder.OpenExisting(killed.Path));
        Assert.Equal((1, 2, 6L), (info.Epoch, info.StepInEpoch, info.Step));
        using (var t = Trainer.Resume(RunFolder.OpenExisting(killed.Path), entry, RunData.Open(info.Config, info.Preprocessing)))
            Assert.True(t.Run().Completed);
        Assert.Equal(CliHarness.DeterministicMetrics(straight.Path), CliHarness.DeterministicMetrics(killed.Path));
        using var a = Checkpoint.Load(straight.LastCheckpointPath);
        using var b = Checkpoint.Load(killed.LastCheckpointPath);
        foreach (var (k, v) in a.Model) Assert.True(v.shape.SequenceEqual(b.Model[k].shape) && v.eq(b.Model[k]).all().item<bool>(), k);
    }

    [Fact]
    public void ANonFiniteLossStopsNamingTheStepAndKeepsTheLastGoodCheckpoint()
    {
        var (data, _) = TinyData(Config);
        var poison = new Poisonable(data.Train);
        var run = new RunFolder(CliHarness.TempDir("nan"));
        using var t = Trainer.Start(Config, ModelZoo.Get("deit_nano"), data with { Train = poison }, run);
        t.EpochCompleted += (_, _) => poison.Poisoned = true;
        var e = Assert.Throws<NonFiniteLossException>(() => t.Run());
        Assert.Equal(4, e.Step);                           // the first step of epoch 2
        Assert.Contains("at step 4 (epoch 2, batch 1)", e.Message);
        var info = Trainer.ReadRunInfo(run);
        Assert.Equal((1, 4L), (info.Epoch, info.Step));    // last.ckpt is still the end of epoch 1
    }
}
