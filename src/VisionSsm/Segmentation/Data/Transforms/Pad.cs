namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// mmseg <c>Pad(size, pad_val=0, seg_pad_val=255)</c>: extends image and mask at the bottom and right to at least
/// Height×Width (and, with SizeDivisor, to multiples of it); new image pixels get PadValue (0: after Normalize this is
/// the mean colour, as in mmseg where padding follows normalisation) and new mask pixels the ignore label, so the
/// padding never counts in the loss. Larger inputs are left as they are.
/// </summary>
public sealed class Pad : ISegmentationTransform
{
    public Pad(int height, int width, float padValue = 0, byte maskPadValue = SegmentationLabels.IgnoreIndex, int sizeDivisor = 1)
    {
        if (height < 0 || width < 0) throw new ArgumentOutOfRangeException(nameof(height), $"pad size {height}×{width} must not be negative.");
        if (sizeDivisor < 1) throw new ArgumentOutOfRangeException(nameof(sizeDivisor), sizeDivisor, "expected a size divisor ≥ 1.");
        Height = height; Width = width; PadValue = padValue; MaskPadValue = maskPadValue; SizeDivisor = sizeDivisor;
    }

    public int Height { get; }
    public int Width { get; }
    public float PadValue { get; }
    public byte MaskPadValue { get; }
    public int SizeDivisor { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng) => To(s, Height, Width, PadValue, MaskPadValue, SizeDivisor);

    public static SegmentationSample To(SegmentationSample s, int height, int width, float padValue = 0,
        byte maskPadValue = SegmentationLabels.IgnoreIndex, int sizeDivisor = 1)
    {
        int h = RoundUp(Math.Max(height, s.Height), sizeDivisor), w = RoundUp(Math.Max(width, s.Width), sizeDivisor);
        if (h == s.Height && w == s.Width) return s;
        var px = new float[s.Channels * h * w];
        if (padValue != 0) Array.Fill(px, padValue);
        var mask = new byte[h * w];
        Array.Fill(mask, maskPadValue);
        for (int c = 0; c < s.Channels; c++)
            for (int i = 0; i < s.Height; i++)
                s.Pixels.AsSpan(c * s.Height * s.Width + i * s.Width, s.Width).CopyTo(px.AsSpan(c * h * w + i * w));
        for (int i = 0; i < s.Height; i++) s.Mask.AsSpan(i * s.Width, s.Width).CopyTo(mask.AsSpan(i * w));
        return new SegmentationSample(px, s.Channels, h, w, mask);
    }

    static int RoundUp(int v, int d) => (v + d - 1) / d * d;
}
