namespace VisionSsm.Segmentation.Inference;

/// <summary>Whole-image or sliding-window inference (mmseg's <c>test_cfg.mode</c>).</summary>
public enum InferenceMode
{
    Whole,
    Slide,
}

/// <summary>
/// How <see cref="SegmentationInference.Predict"/> runs a model over images: mode (with crop and stride for
/// <see cref="InferenceMode.Slide"/>; Vim's ADE20K recipe uses crop 512, stride 341), and test-time augmentation:
/// image scale ratios (mmseg's <c>img_ratios</c>, e.g. 0.5, 0.75, …, 1.75) and horizontal flip.
/// </summary>
public sealed record InferenceOptions
{
    public InferenceMode Mode { get; init; } = InferenceMode.Whole;
    public int CropHeight { get; init; } = 512;
    public int CropWidth { get; init; } = 512;
    public int StrideHeight { get; init; } = 341;
    public int StrideWidth { get; init; } = 341;
    public IReadOnlyList<double> Scales { get; init; } = [1.0];
    public bool Flip { get; init; }

    /// <summary>True when more than one view is averaged (several scales or flip).</summary>
    public bool IsAugmented => Flip || Scales.Count != 1 || Scales[0] != 1.0;

    /// <summary>mmseg's multi-scale test ratios.</summary>
    public static readonly IReadOnlyList<double> MultiScaleRatios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75];

    public void Validate()
    {
        if (Mode == InferenceMode.Slide && (CropHeight <= 0 || CropWidth <= 0 || StrideHeight <= 0 || StrideWidth <= 0))
            throw new ArgumentOutOfRangeException(nameof(CropHeight), $"sliding window crop {CropHeight}×{CropWidth} and stride {StrideHeight}×{StrideWidth} must be positive.");
        if (Scales.Count == 0 || Scales.Any(s => !(s > 0) || double.IsInfinity(s)))
            throw new ArgumentOutOfRangeException(nameof(Scales), $"scales [{string.Join(", ", Scales)}]: expected one or more positive ratios.");
    }
}
