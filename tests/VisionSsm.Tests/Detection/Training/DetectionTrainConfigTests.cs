using VisionSsm.Detection.Training;

namespace VisionSsm.Tests.Detection.Training;

/// <summary>The embedded canvases a detection config names: counts, overlap cap, and the folder they are written to.</summary>
public class DetectionTrainConfigTests
{
    [Fact]
    public void TheOverlapCapReachesTheComposerAndNamesItsOwnFolder()
    {
        var uncapped = new DetectionTrainConfig { CanvasTrain = 50, CanvasTest = 7, CanvasMaxOverlap = 1 };
        var capped = uncapped with { CanvasMaxOverlap = 0.25 };
        Assert.Equal(1.0, uncapped.CanvasOptions().Canvas.MaxOverlap);
        Assert.Equal(0.25, capped.CanvasOptions().Canvas.MaxOverlap);
        Assert.Equal((50, 7), (capped.CanvasOptions().Canvas.TrainCount, capped.CanvasOptions().Canvas.TestCount));
        Assert.Equal(Path.Combine("data", "fashion-detection-canvases-50x7"), uncapped.DataRoot());
        Assert.Equal(Path.Combine("data", "fashion-detection-canvases-50x7-cap0.25"), capped.DataRoot());
        Assert.Equal("elsewhere", capped with { CanvasDirectory = "elsewhere" } is var c ? c.DataRoot() : null);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void AnOverlapCapOutsideZeroToOneIsRefusedByName(double cap)
    {
        var e = Assert.Throws<ArgumentException>(() => new DetectionTrainConfig { CanvasMaxOverlap = cap }.Validate());
        Assert.Contains("--canvas-overlap", e.Message);
    }
}
