using VisionSsm.Segmentation.Data;

namespace VisionSsm.Detection.Data;

/// <summary>
/// How <see cref="DetectionCanvas"/> composes the detection canvases (docs/detection.md §8.1): the segmentation
/// composer's settings (<see cref="CanvasOptions"/>) with detection defaults — 96×96 gray canvases, 2–4 items scaled by
/// a factor in [1, 2) (28–56 px squares; boxes around the ink are smaller), the composer's 20 % overlap cap, 1 000 train
/// and 300 test canvases — and the
/// share of an item's ink that must stay visible for it to be annotated.
/// </summary>
public sealed record DetectionCanvasOptions
{
    public CanvasOptions Canvas { get; init; } = new()
    {
        Size = 96, MinItems = 2, MaxItems = 4, MinScale = 1.0, MaxScale = 2.0, TrainCount = 1000, TestCount = 300,
    };

    /// <summary>An item is annotated when at least this fraction of its ink is visible after occlusion (and at least 1 pixel).</summary>
    public double MinVisibleFraction { get; init; } = 0.3;

    public void Validate()
    {
        Canvas.Validate();
        if (!(MinVisibleFraction is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinVisibleFraction), MinVisibleFraction, "expected a fraction in [0, 1].");
    }
}
