namespace VisionSsm.Data.Transforms;

/// <summary>Mirrors the image left–right with probability <see cref="Probability"/> (torchvision default 0.5).</summary>
public sealed class RandomHorizontalFlip(double probability = 0.5) : ISampleTransform
{
    public double Probability { get; } = probability is >= 0 and <= 1 ? probability
        : throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected a probability in [0, 1].");

    public ImageSample Apply(ImageSample sample, Random rng) =>
        rng.NextDouble() < Probability ? Flip(sample) : sample;

    public static ImageSample Flip(ImageSample s)
    {
        var dst = new float[s.Pixels.Length];
        int w = s.Width;
        for (int row = 0; row < s.Channels * s.Height; row++)
        {
            int o = row * w;
            for (int x = 0; x < w; x++) dst[o + x] = s.Pixels[o + w - 1 - x];
        }
        return s with { Pixels = dst };
    }

    public override string ToString() => $"HorizontalFlip(p={Probability})";
}
