namespace VisionSsm.Segmentation.Data;

/// <summary>
/// One image with its label map: <paramref name="Pixels"/> channel-first (C, H, W) floats in [0, 1], row-major, and
/// <paramref name="Mask"/> H·W class indices, row-major, <see cref="SegmentationLabels.IgnoreIndex"/> (255) where no
/// label counts (mmseg's ignore_index).
/// </summary>
public sealed record SegmentationSample(float[] Pixels, int Channels, int Height, int Width, byte[] Mask)
{
    /// <summary>Checks that the arrays match the shape; use it where a sample is built from outside data.</summary>
    public static SegmentationSample Create(float[] pixels, int channels, int height, int width, byte[] mask)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"image shape ({channels}, {height}, {width}) must be positive.", nameof(channels));
        if (pixels.Length != channels * height * width)
            throw new ArgumentException($"pixels has {pixels.Length} values; expected {channels}·{height}·{width} = {channels * height * width}.", nameof(pixels));
        if (mask.Length != height * width)
            throw new ArgumentException($"mask has {mask.Length} labels; expected {height}·{width} = {height * width}.", nameof(mask));
        return new SegmentationSample(pixels, channels, height, width, mask);
    }
}
