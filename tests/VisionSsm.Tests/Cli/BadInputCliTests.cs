namespace VisionSsm.Tests.Cli;

[Collection(SerialTrainingCollection.Name)]
public class BadInputCliTests
{
    [Fact]
    public void UnknownModel() =>
        CliHarness.Fails(CliHarness.Run("train", "--model", "no_such_model", "--data", CliHarness.WriteIdx(CliHarness.TempDir("idx"))),
            "Unknown model 'no_such_model'", "vmamba_nano");

    [Fact]
    public void UnknownModelInFlopsAndBench()
    {
        CliHarness.Fails(CliHarness.Run("flops", "--model", "nope"), "Unknown model 'nope'");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano,nope", "--sizes", "8"), "Unknown model 'nope'");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "8,x"), "--sizes", "integers");
    }

    [Fact]
    public void BadBenchArguments()
    {
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "8", "--batch", "0"), "--batch", "≥ 1");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "0"), "--sizes", "positive");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "8", "--seconds", "0"), "--seconds");
        CliHarness.Fails(CliHarness.Run("bench", "--models", ",", "--sizes", "8"), "--models");
        // A size the model rejects is found by the child; the run stops there, naming the model and size.
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "10,16", "--seconds", "0.01"), "deit_nano", "cannot take 3×10×10");
    }

    [Fact]
    public void MissingDataDirectory() =>
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--data", "/nonexistent/vssm-data"), "--data", "/nonexistent/vssm-data", "does not exist");

    [Fact]
    public void DirectoryWithoutData() =>
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--data", CliHarness.TempDir("empty")), "no recognised data set", "idx");

    [Fact]
    public void ImageSizeTheModelCannotTake() =>
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--img-size", "10", "--batch-size", "16", "--data", CliHarness.WriteIdx(CliHarness.TempDir("idx"))),
            "deit_nano", "1×10×10", "default size is 28");

    [Fact]
    public void BadOptionValues()
    {
        string data = CliHarness.WriteIdx(CliHarness.TempDir("idx"));
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--data", data, "--epochs", "0"), "--epochs");
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--data", data, "--batch-size", "1000"), "--batch-size 1000", "64 images");
        CliHarness.Fails(CliHarness.Run("train", "--model", "deit_nano", "--data", data, "--device", "cuda"), "--device", "CUDA");
        CliHarness.Fails(CliHarness.Run("train", "--epochs", "abc"), "abc");
    }

    [Fact]
    public void MissingAndUnreadableCheckpoints()
    {
        CliHarness.Fails(CliHarness.Run("eval", "--checkpoint", "/nonexistent/x.ckpt"), "/nonexistent/x.ckpt", "does not exist");
        string garbage = Path.Combine(CliHarness.TempDir("ckpt"), "garbage.ckpt");
        File.WriteAllText(garbage, "this is not a checkpoint");
        CliHarness.Fails(CliHarness.Run("eval", "--checkpoint", garbage), garbage, "not a VisionSsm checkpoint");
        CliHarness.Fails(CliHarness.Run("predict", "--checkpoint", garbage, garbage), "not a VisionSsm checkpoint");
    }

    [Fact]
    public void MissingImageForPredict() =>
        CliHarness.Fails(CliHarness.Run("predict", "--checkpoint", "/nonexistent/x.ckpt", "/nonexistent/cat.jpg"), "/nonexistent/cat.jpg");
}

[Collection(SerialTrainingCollection.Name)]
public class OtherVerbsCliTests
{
    [Fact]
    public void ModelsListsTheZooWithPaperFigures()
    {
        var r = CliHarness.Run("models", "--filter", "nano");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var m in new[] { "vmamba_nano", "deit_nano", "resnet_nano" }) Assert.Contains(m, r.Out);
        Assert.Contains("paper GFLOPs", r.Out);
    }

    [Fact]
    public void FlopsBreaksDownByLayerType()
    {
        var r = CliHarness.Run("flops", "--model", "resnet_nano", "--size", "28", "--in-chans", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("| conv |", r.Out);
        Assert.Contains("| linear |", r.Out);
    }

    [Fact]
    public void BenchWritesATableAndAPlot()
    {
        string png = Path.Combine(CliHarness.TempDir("bench"), "bench.png");
        var r = CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "8,16", "--seconds", "0.01", "--plot", png);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("| deit_nano | 8 | 1 | infer |", r.Out);
        Assert.Contains("| deit_nano | 16 | 1 | infer |", r.Out);
        Assert.Contains("[2/2] deit_nano @ 16 ×1", r.Error); // progress
        Assert.True(new FileInfo(png).Length > 1000);
    }

    [Fact]
    public void BenchTrainMeasuresATrainingStep()
    {
        string png = Path.Combine(CliHarness.TempDir("bench"), "train.png");
        var r = CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "16", "--batch", "2", "--train", "--seconds", "0.01", "--plot", png);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("| deit_nano | 16 | 2 | train |", r.Out);
        Assert.True(File.Exists(png));
    }

    [Fact]
    public void TrainsOnAnImageFolder()
    {
        string data = CliHarness.WriteImageFolder(CliHarness.TempDir("folder"));
        string run = Path.Combine(CliHarness.TempDir("runs"), "folder");
        var r = CliHarness.Run("train", "--model", "deit_nano", "--data", data, "--epochs", "1", "--batch-size", "4", "--output", run);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("on 8 images, 2 classes, 3×8×8", r.Out);
        Assert.Contains("per-class accuracy", r.Out);
    }
}
