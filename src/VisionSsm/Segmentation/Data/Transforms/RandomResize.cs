namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// mmseg/mmcv <c>RandomResize(scale, ratio_range, keep_ratio)</c>: draw r uniformly from [MinRatio, MaxRatio), take
/// the target scale (⌊ScaleW·r⌋, ⌊ScaleH·r⌋); with KeepRatio the image is rescaled by
/// f = min(max(scale)/max(h, w), min(scale)/min(h, w)) to (⌊w·f + ½⌋, ⌊h·f + ½⌋) (mmcv <c>rescale_size</c>),
/// else resized to the scale exactly. Image bilinear, mask nearest (<see cref="JointResize"/>). A ratio range of
/// (1, 1) is mmseg's fixed test-time <c>Resize</c>.
/// </summary>
public sealed class RandomResize : ISegmentationTransform
{
    public RandomResize(int scaleWidth, int scaleHeight, double minRatio = 0.5, double maxRatio = 2.0, bool keepRatio = true)
    {
        if (scaleWidth <= 0 || scaleHeight <= 0) throw new ArgumentOutOfRangeException(nameof(scaleWidth), $"scale {scaleWidth}×{scaleHeight} must be positive.");
        if (!(minRatio > 0) || !(maxRatio >= minRatio)) throw new ArgumentOutOfRangeException(nameof(minRatio), $"ratio range [{minRatio}, {maxRatio}]: expected 0 < min ≤ max.");
        ScaleWidth = scaleWidth; ScaleHeight = scaleHeight; MinRatio = minRatio; MaxRatio = maxRatio; KeepRatio = keepRatio;
    }

    public int ScaleWidth { get; }
    public int ScaleHeight { get; }
    public double MinRatio { get; }
    public double MaxRatio { get; }
    public bool KeepRatio { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng)
    {
        double r = MinRatio == MaxRatio ? MinRatio : MinRatio + rng.NextDouble() * (MaxRatio - MinRatio);
        var (h, w) = TargetSize(s.Height, s.Width, (int)(ScaleWidth * r), (int)(ScaleHeight * r), KeepRatio);
        return JointResize.Resize(s, h, w);
    }

    /// <summary>The (height, width) an image of <paramref name="height"/>×<paramref name="width"/> is resized to for a scale (w, h).</summary>
    public static (int Height, int Width) TargetSize(int height, int width, int scaleW, int scaleH, bool keepRatio)
    {
        scaleW = Math.Max(1, scaleW); scaleH = Math.Max(1, scaleH);
        if (!keepRatio) return (scaleH, scaleW);
        double f = Math.Min((double)Math.Max(scaleW, scaleH) / Math.Max(height, width), (double)Math.Min(scaleW, scaleH) / Math.Min(height, width));
        return (Math.Max(1, (int)(height * f + 0.5)), Math.Max(1, (int)(width * f + 0.5)));
    }
}
