namespace VisionSsm.Tests.Cli;

/// <summary>One uninterrupted tiny training run shared by the CLI tests (deit_nano at 8×8, 64 images, 2 epochs).</summary>
public sealed class TrainedRunFixture
{
    public string Data { get; } = CliHarness.WriteIdx(CliHarness.TempDir("idx"));
    public string Root { get; } = CliHarness.TempDir("runs");
    public string RunDir => Path.Combine(Root, "straight");
    public CliHarness.Outcome Straight { get; }

    public static readonly string[] Recipe =
        ["--model", "deit_nano", "--epochs", "2", "--batch-size", "16", "--lr", "2e-3", "--warmup-epochs", "0.5", "--seed", "3",
         "--ema-decay", "0.9", "--drop-path", "0.1", "--clip-grad", "1.0", "--log-interval", "2"];

    public TrainedRunFixture()
    {
        Straight = CliHarness.Run(["train", "--data", Data, "--output", RunDir, .. Recipe]);
    }
}

[Collection(SerialTrainingCollection.Name)]
public class TrainCliTests(TrainedRunFixture run) : IClassFixture<TrainedRunFixture>
{
    [Fact]
    public void TrainWritesTheRunFolderAndTheFinalReport()
    {
        Assert.True(run.Straight.ExitCode == 0, run.Straight.ToString());
        foreach (var f in new[] { "config.json", "metrics.csv", "metrics.jsonl", "curves.png", "last.ckpt", "best.ckpt" })
            Assert.True(File.Exists(Path.Combine(run.RunDir, f)), $"{f} missing");
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run.RunDir, "metrics.csv")).Length); // header + 2 epochs
        Assert.Contains("epoch 1/2 step 2/4", run.Straight.Out);          // plain progress lines (not a terminal)
        Assert.Contains("test (final model): top-1", run.Straight.Out);
        Assert.Contains("per-class accuracy", run.Straight.Out);
        Assert.Contains("confusion matrix", run.Straight.Out);
        Assert.Contains("test (EMA)", run.Straight.Out);
        Assert.Equal(0x89, File.ReadAllBytes(Path.Combine(run.RunDir, "curves.png"))[0]); // PNG signature
    }

    [Fact]
    public void ResumeAfterAnInterruptionReproducesTheUninterruptedRun()
    {
        Assert.True(run.Straight.ExitCode == 0, run.Straight.ToString());
        string dir = Path.Combine(run.Root, "interrupted");
        // Stop in the middle of epoch 2 (4 steps per epoch), then continue.
        var first = CliHarness.Run(["train", "--data", run.Data, "--output", dir, "--max-steps", "6", .. TrainedRunFixture.Recipe]);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("stopped after 6 steps", first.Out);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);
        var resumed = CliHarness.Run("train", "--resume", dir);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("resuming", resumed.Out);
        Assert.Equal(CliHarness.DeterministicMetrics(run.RunDir), CliHarness.DeterministicMetrics(dir));
        string Final(string o) => o.Split('\n').Single(l => l.StartsWith("test (final model)"));
        Assert.Equal(Final(run.Straight.Out), Final(resumed.Out));
    }

    [Fact]
    public void ResumeWithMoreEpochsExtendsTheCosineOfAFinishedRun()
    {
        Assert.True(run.Straight.ExitCode == 0, run.Straight.ToString());
        string dir = Path.Combine(run.Root, "extended");
        CopyRun(run.RunDir, dir);
        var r = CliHarness.Run("train", "--resume", dir, "--epochs", "3");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("epoch 3/3", r.Out);
        var rows = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        var straight = File.ReadAllLines(Path.Combine(run.RunDir, "metrics.csv"));
        Assert.Equal(4, rows.Length);                          // header + 2 kept epochs + the new one
        Assert.Equal(straight[1..], rows[1..3]);
        // Recipe: 4 steps per epoch, warmup 0.5 epoch = 2 steps, lr 2e-3, min 1e-5. The row holds the lr of the epoch's
        // last step (11), now on a cosine over 3·4 = 12 steps: min + ½(max − min)(1 + cos(π·9/10)).
        double expected = 1e-5 + 0.5 * (2e-3 - 1e-5) * (1 + Math.Cos(Math.PI * 9 / 10));
        double lr = double.Parse(rows[3].Split(',')[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, lr, 1e-9);
        Assert.Contains("\"Epochs\": 3", File.ReadAllText(Path.Combine(dir, "config.json")));
        // The new length is in the checkpoint, so a later --resume without --epochs keeps it.
        Assert.Equal(3, VisionSsm.Training.Trainer.ReadRunInfo(VisionSsm.Training.RunFolder.OpenExisting(dir)).Config.Epochs);
    }

    [Fact]
    public void ResumeRefusesRecipeChangesAndTooFewEpochs()
    {
        Assert.True(run.Straight.ExitCode == 0, run.Straight.ToString());
        var shorter = CliHarness.Run("train", "--resume", run.RunDir, "--epochs", "1");
        Assert.NotEqual(0, shorter.ExitCode);
        Assert.Contains("--epochs", shorter.Error);
        Assert.Contains("completed 2 epoch(s)", shorter.Error);
        var lr = CliHarness.Run("train", "--resume", run.RunDir, "--lr", "0.1");
        Assert.NotEqual(0, lr.ExitCode);
        Assert.Contains("--lr cannot change on --resume", lr.Error);
    }

    static void CopyRun(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    [Fact]
    public void EvalReportsTheSameAccuracyAsTraining()
    {
        var eval = CliHarness.Run("eval", "--checkpoint", Path.Combine(run.RunDir, "last.ckpt"), "--data", run.Data);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        string trainTop1 = run.Straight.Out.Split('\n').Single(l => l.StartsWith("test (final model)")).Split("top-1 ")[1].Split('%')[0];
        Assert.Contains($"test: top-1 {trainTop1}%", eval.Out);
        Assert.Contains("confusion matrix", eval.Out);
        var ema = CliHarness.Run("eval", "--checkpoint", Path.Combine(run.RunDir, "best.ckpt"), "--ema");
        Assert.True(ema.ExitCode == 0, ema.ToString()); // data defaults to the one the checkpoint was trained on
        var tta = CliHarness.Run("eval", "--checkpoint", Path.Combine(run.RunDir, "last.ckpt"), "--tta");
        Assert.True(tta.ExitCode == 0, tta.ToString());
        Assert.Contains("(flip TTA)", tta.Out);
        Assert.Contains("test: top-1 ", tta.Out);
    }

    [Fact]
    public void PredictPrintsTopKLabelsWithProbabilities()
    {
        string img = Path.Combine(run.Root, "sample.png");
        VisionSsm.Data.ImageDecoder.Save(new VisionSsm.Data.ImageSample(Enumerable.Range(0, 3 * 20 * 24).Select(i => (i % 7) / 7f).ToArray(), 3, 20, 24, 0), img);
        var r = CliHarness.Run("predict", "--checkpoint", Path.Combine(run.RunDir, "best.ckpt"), "-k", "3", img);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        double total = lines.Skip(1).Sum(l => double.Parse(l.Trim().Split('%')[0], System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(total, 0, 100.01);
    }

    [Fact]
    public void ACheckpointOfAnotherModelNamesTheMissingAndUnexpectedKeys()
    {
        var r = CliHarness.Run("eval", "--model", "resnet_nano", "--checkpoint", Path.Combine(run.RunDir, "last.ckpt"), "--data", run.Data);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("missing keys: ", r.Error);
        Assert.Contains("conv1.weight", r.Error);     // ResNet's, absent from the DeiT checkpoint
        Assert.Contains("unexpected keys: ", r.Error);
        Assert.Contains("cls_token", r.Error);        // DeiT's, unknown to ResNet
    }

    [Fact]
    public void EvalOnImagesOfAnotherSizeNamesTheSizeTheModelNeeds()
    {
        string other = CliHarness.WriteIdx(CliHarness.TempDir("idx12"), train: 8, test: 8, size: 12);
        var r = CliHarness.Run("eval", "--checkpoint", Path.Combine(run.RunDir, "last.ckpt"), "--data", other);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("images are 12×12", r.Error);
        Assert.Contains("needs 8×8", r.Error);
        var resized = CliHarness.Run("eval", "--checkpoint", Path.Combine(run.RunDir, "last.ckpt"), "--data", other, "--resize");
        Assert.True(resized.ExitCode == 0, resized.ToString());
    }

    [Fact]
    public void RefusesToOverwriteARunAndResumesOnlyRuns()
    {
        var again = CliHarness.Run(["train", "--data", run.Data, "--output", run.RunDir, .. TrainedRunFixture.Recipe]);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("--resume", again.Error);
        var none = CliHarness.Run("train", "--resume", CliHarness.TempDir("empty"));
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("no last.ckpt", none.Error);
    }
}
