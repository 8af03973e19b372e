namespace VisionSsm.Data;

/// <summary>One decoded image: channel-first (C, H, W) floats in [0, 1], row-major, and its class index.</summary>
public sealed record ImageSample(float[] Pixels, int Channels, int Height, int Width, int Label)
{
    public static ImageSample Create(float[] pixels, int channels, int height, int width, int label)
    {
        if (pixels.Length != channels * height * width)
            throw new ArgumentException($"pixels has {pixels.Length} values; expected {channels}·{height}·{width} = {channels * height * width}.", nameof(pixels));
        return new ImageSample(pixels, channels, height, width, label);
    }
}
