namespace VisionSsm.Tests.Cli;

public class DetectionModelsListingTests
{
    [Fact]
    public void Models_lists_the_detection_registry_with_the_papers_figures()
    {
        var r = CliHarness.Run("models", "--task", "detection", "--filter", "resnet50");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("maskrcnn_resnet50", r.Out);
        Assert.Contains("| 44.40 |", r.Out);   // 44 396 336 parameters (DetectionParameterTests)
        Assert.Contains("| 260 |", r.Out);     // VMamba Table 2
        Assert.DoesNotContain("maskrcnn_vmamba_tiny", r.Out);
    }
}
