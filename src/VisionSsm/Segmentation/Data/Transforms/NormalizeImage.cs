namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>Per-channel (x − mean) / std on the [0, 1] image (mmseg's Normalize with its 0–255 constants divided by 255); the mask is untouched.</summary>
public sealed class NormalizeImage : ISegmentationTransform
{
    public NormalizeImage(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count) throw new ArgumentException($"mean has {mean.Count} values and std {std.Count}; expected one per channel.", nameof(mean));
        if (std.Any(v => !(v > 0))) throw new ArgumentOutOfRangeException(nameof(std), "every std must be positive.");
        Mean = mean.ToArray(); Std = std.ToArray();
    }

    public IReadOnlyList<float> Mean { get; }
    public IReadOnlyList<float> Std { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng)
    {
        if (s.Channels != Mean.Count)
            throw new ArgumentException($"image has {s.Channels} channels but the normalisation has {Mean.Count} means; expected equal counts.", nameof(s));
        int hw = s.Height * s.Width;
        var px = new float[s.Pixels.Length];
        for (int c = 0; c < s.Channels; c++)
        {
            float m = Mean[c], inv = 1f / Std[c];
            for (int i = 0; i < hw; i++) px[c * hw + i] = (s.Pixels[c * hw + i] - m) * inv;
        }
        return s with { Pixels = px };
    }
}
