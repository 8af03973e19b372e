namespace VisionSsm.Data.Transforms;

/// <summary>
/// Makes an image have <see cref="Channels"/> channels to match a model's InChannels: gray → RGB repeats the plane;
/// RGB → gray uses the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B (PIL's "L" conversion). Other pairs are errors.
/// </summary>
public sealed class ConvertChannels(int channels) : ISampleTransform
{
    public int Channels { get; } = channels is 1 or 3 ? channels
        : throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected 1 or 3 channels.");

    public ImageSample Apply(ImageSample s, Random rng) => Convert(s, Channels);

    public static ImageSample Convert(ImageSample s, int channels)
    {
        if (s.Channels == channels) return s;
        int hw = s.Height * s.Width;
        if (s.Channels == 1 && channels == 3)
        {
            var dst = new float[3 * hw];
            for (int c = 0; c < 3; c++) Array.Copy(s.Pixels, 0, dst, c * hw, hw);
            return s with { Pixels = dst, Channels = 3 };
        }
        if (s.Channels == 3 && channels == 1) return s with { Pixels = Luma(s.Pixels, hw), Channels = 1 };
        throw new ArgumentException($"cannot convert a {s.Channels}-channel image to {channels} channels; expected 1 or 3 channels.");
    }

    /// <summary>Luma plane of a (3, H, W) image.</summary>
    internal static float[] Luma(float[] rgb, int hw)
    {
        var y = new float[hw];
        for (int i = 0; i < hw; i++) y[i] = 0.299f * rgb[i] + 0.587f * rgb[hw + i] + 0.114f * rgb[2 * hw + i];
        return y;
    }

    public override string ToString() => $"ConvertChannels({Channels})";
}
