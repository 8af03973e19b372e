namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>mmseg <c>RandomFlip(prob, direction)</c>: with probability Prob, mirror image and mask left–right (or top–bottom).</summary>
public sealed class RandomFlip : ISegmentationTransform
{
    public RandomFlip(double prob = 0.5, bool vertical = false)
    {
        if (!(prob >= 0 && prob <= 1)) throw new ArgumentOutOfRangeException(nameof(prob), prob, "expected a probability in [0, 1].");
        Prob = prob; Vertical = vertical;
    }

    public double Prob { get; }
    public bool Vertical { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng) => rng.NextDouble() < Prob ? Flip(s, Vertical) : s;

    public static SegmentationSample Flip(SegmentationSample s, bool vertical)
    {
        int h = s.Height, w = s.Width;
        var px = new float[s.Pixels.Length];
        var mask = new byte[s.Mask.Length];
        for (int c = 0; c < s.Channels; c++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    int si = vertical ? h - 1 - i : i, sj = vertical ? j : w - 1 - j;
                    px[c * h * w + i * w + j] = s.Pixels[c * h * w + si * w + sj];
                    if (c == 0) mask[i * w + j] = s.Mask[si * w + sj];
                }
        return new SegmentationSample(px, s.Channels, h, w, mask);
    }
}
