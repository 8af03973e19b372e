namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>Applies transforms in order with one generator (so a pipeline is repeatable from its seed).</summary>
public sealed class SegmentationPipeline(IReadOnlyList<ISegmentationTransform> steps) : ISegmentationTransform
{
    public IReadOnlyList<ISegmentationTransform> Steps { get; } = steps;

    public SegmentationSample Apply(SegmentationSample sample, Random rng)
    {
        foreach (var t in Steps) sample = t.Apply(sample, rng);
        return sample;
    }

    /// <summary>
    /// mmseg's ADE20K training pipeline (configs/_base_/datasets/ade20k.py): RandomResize(scale (ScaleW, ScaleH), ratio
    /// 0.5–2, keep ratio) → RandomCrop(crop, cat_max_ratio 0.75) → RandomFlip(0.5) → PhotoMetricDistortion →
    /// Normalize → Pad(crop, 0, 255). For ADE20K at 512: scale (2048, 512), crop 512×512.
    /// </summary>
    public static SegmentationPipeline Train(int cropHeight, int cropWidth, int scaleWidth, int scaleHeight,
        IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null, double minRatio = 0.5, double maxRatio = 2.0,
        double catMaxRatio = 0.75, bool photometric = true)
    {
        var steps = new List<ISegmentationTransform>
        {
            new RandomResize(scaleWidth, scaleHeight, minRatio, maxRatio),
            new RandomCrop(cropHeight, cropWidth, catMaxRatio),
            new RandomFlip(0.5),
        };
        if (photometric) steps.Add(new PhotoMetricDistortion());
        if (mean is not null && std is not null) steps.Add(new NormalizeImage(mean, std));
        steps.Add(new Pad(cropHeight, cropWidth));
        return new SegmentationPipeline(steps);
    }

    /// <summary>mmseg's test pipeline: Resize(scale, keep ratio) → Normalize (the label map is resized alike; mmseg
    /// scores against the original map, so evaluation code usually resizes predictions back instead).</summary>
    public static SegmentationPipeline Test(int scaleWidth, int scaleHeight, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        var steps = new List<ISegmentationTransform> { new RandomResize(scaleWidth, scaleHeight, 1, 1) };
        if (mean is not null && std is not null) steps.Add(new NormalizeImage(mean, std));
        return new SegmentationPipeline(steps);
    }
}
