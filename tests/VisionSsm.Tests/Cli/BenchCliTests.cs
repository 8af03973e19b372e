namespace VisionSsm.Tests.Cli;

/// <summary>`vssm bench` over the segmentation and detection zoos and HxW sizes. No timing is asserted.</summary>
[Collection(SerialTrainingCollection.Name)]
public class BenchCliTests
{
    [Fact]
    public void AnUnknownModelIsNamedBeforeAnyChildStarts()
    {
        var r = CliHarness.Run("bench", "--models", "upernet_vmamba_nano,maskrcnn_nope", "--sizes", "64");
        CliHarness.Fails(r, "Unknown model 'maskrcnn_nope'", "--models", "upernet_vmamba_tiny_s1l8", "maskrcnn_resnet50");
        Assert.DoesNotContain("[1/", r.Error);
    }

    [Fact]
    public void BadSizesNameTheOptionAndTheForm()
    {
        CliHarness.Fails(CliHarness.Run("bench", "--models", "upernet_vmamba_nano", "--sizes", "512x"), "--sizes", "'512x'", "HxW");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "upernet_vmamba_nano", "--sizes", "512x2048x3"), "--sizes", "HxW");
    }

    [Fact]
    public void OnnxRuntimeIsRefusedForDenseModelsAndNonSquareSizes()
    {
        CliHarness.Fails(CliHarness.Run("bench", "--models", "upernet_vmamba_nano", "--sizes", "64", "--runtime", "torchsharp,onnxruntime"),
            "--runtime", "classification", "upernet_vmamba_nano");
        CliHarness.Fails(CliHarness.Run("bench", "--models", "deit_nano", "--sizes", "16x32", "--runtime", "onnxruntime"), "--runtime", "square", "16x32");
    }

    [Fact]
    public void ASegmentationModelAtANonSquareSizeIsATableRowLabelledHxW()
    {
        string png = Path.Combine(CliHarness.TempDir("bench"), "seg.png");
        var r = CliHarness.Run("bench", "--models", "upernet_vmamba_nano", "--sizes", "64x96", "--seconds", "0.01", "--plot", png);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("| upernet_vmamba_nano | 64x96 | 1 | infer |", r.Out);
        Assert.Contains("[1/1] upernet_vmamba_nano @ 64x96 ×1", r.Error);
        Assert.True(new FileInfo(png).Length > 1000);
    }
}
