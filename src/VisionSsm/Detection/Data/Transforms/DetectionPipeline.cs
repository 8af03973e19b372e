namespace VisionSsm.Detection.Data.Transforms;

/// <summary>
/// The geometric part of mmdetection's Mask R-CNN pipelines (normalisation and padding happen when a batch is
/// collated, as mmdet's <c>DetDataPreprocessor</c> does): training = keep-ratio resize to (long, short) — with
/// multi-scale training the short side drawn uniformly from <see cref="ShortSides"/> (mmdet's
/// <c>RandomChoiceResize</c>) — then a horizontal flip with probability <see cref="FlipProbability"/>; test = the resize
/// alone, to (<see cref="LongSide"/>, the first short side).
/// </summary>
public sealed record DetectionPipeline(int LongSide, IReadOnlyList<int> ShortSides, double FlipProbability = 0.5)
{
    /// <summary>mmdet's COCO scale (1333, 800), single-scale.</summary>
    public static DetectionPipeline Coco { get; } = new(1333, [800]);

    public void Validate()
    {
        if (LongSide < 1) throw new ArgumentException($"--scale: long side {LongSide} must be positive.", "scale");
        if (ShortSides.Count == 0 || ShortSides.Any(s => s < 1)) throw new ArgumentException($"--scale: short sides [{string.Join(", ", ShortSides)}] must be positive.", "scale");
        if (FlipProbability is < 0 or > 1) throw new ArgumentException($"flip probability {FlipProbability} must be in [0, 1].", "flip");
    }

    /// <summary>The training view of <paramref name="s"/>; all randomness comes from <paramref name="rng"/>.</summary>
    public DetectionSample Train(DetectionSample s, Random rng)
    {
        int shortSide = ShortSides.Count == 1 ? ShortSides[0] : ShortSides[rng.Next(ShortSides.Count)];
        var (h, w) = DetectionResize.KeepRatioSize(s.Height, s.Width, LongSide, shortSide);
        s = DetectionResize.Apply(s, h, w);
        return rng.NextDouble() < FlipProbability ? DetectionFlip.Horizontal(s) : s;
    }

    /// <summary>The test view: keep-ratio resize to (long, first short side).</summary>
    public DetectionSample Test(DetectionSample s)
    {
        var (h, w) = DetectionResize.KeepRatioSize(s.Height, s.Width, LongSide, ShortSides[0]);
        return DetectionResize.Apply(s, h, w);
    }
}
