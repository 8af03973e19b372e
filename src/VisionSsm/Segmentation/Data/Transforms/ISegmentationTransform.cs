namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// A joint image/label-map transform: geometric steps move the image and the mask alike (image bilinear, mask
/// nearest, padding with the ignore label), photometric steps touch the image only. Seeded through <paramref name="rng"/>.
/// </summary>
public interface ISegmentationTransform
{
    /// <summary>Transforms one sample; <paramref name="rng"/> is the only source of randomness (repeatable runs).</summary>
    SegmentationSample Apply(SegmentationSample sample, Random rng);
}
