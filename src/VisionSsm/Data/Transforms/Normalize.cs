namespace VisionSsm.Data.Transforms;

/// <summary>Per-channel (x − mean[c]) / std[c] (torchvision Normalize). A single mean/std value applies to all channels.</summary>
public sealed class Normalize : ISampleTransform
{
    // The statistics live with the zoo's preprocessing (Models/Preprocessing.cs); these names are kept for the data side.
    public static float[] ImageNetMean => Models.Preprocessing.ImageNetMean;
    public static float[] ImageNetStd => Models.Preprocessing.ImageNetStd;
    public static float[] FashionMnistMean => Models.Preprocessing.FashionMnistMean;
    public static float[] FashionMnistStd => Models.Preprocessing.FashionMnistStd;

    public Normalize(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new ArgumentException($"mean has {mean.Count} values and std {std.Count}; expected the same non-zero count.", nameof(mean));
        if (std.Any(v => !(v > 0)))
            throw new ArgumentException($"std [{string.Join(", ", std)}] must be positive.", nameof(std));
        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    public float[] Mean { get; }
    public float[] Std { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        if (Mean.Length != 1 && Mean.Length != s.Channels)
            throw new ArgumentException($"Normalize has {Mean.Length} channel statistics; the image has {s.Channels} channels.");
        int hw = s.Height * s.Width;
        var dst = new float[s.Pixels.Length];
        for (int c = 0; c < s.Channels; c++)
        {
            float m = Mean[Mean.Length == 1 ? 0 : c], inv = 1f / Std[Std.Length == 1 ? 0 : c];
            for (int i = c * hw; i < (c + 1) * hw; i++) dst[i] = (s.Pixels[i] - m) * inv;
        }
        return s with { Pixels = dst };
    }

    public override string ToString() => $"Normalize(mean=[{string.Join(", ", Mean)}], std=[{string.Join(", ", Std)}])";
}
