namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// mmseg <c>RandomCrop(crop_size, cat_max_ratio)</c>: a uniformly placed CropH×CropW window (the whole extent where the
/// image is smaller). With CatMaxRatio &lt; 1 a window is accepted when its mask holds more than one non-ignored
/// label and the most frequent one covers less than CatMaxRatio of the non-ignored pixels; up to 10 windows are
/// tested and, when none passes, the next drawn window is used unchecked (mmseg's loop).
/// </summary>
public sealed class RandomCrop : ISegmentationTransform
{
    public const int Attempts = 10;

    public RandomCrop(int cropHeight, int cropWidth, double catMaxRatio = 1.0, byte ignoreIndex = SegmentationLabels.IgnoreIndex)
    {
        if (cropHeight <= 0 || cropWidth <= 0) throw new ArgumentOutOfRangeException(nameof(cropHeight), $"crop size {cropHeight}×{cropWidth} must be positive.");
        if (!(catMaxRatio > 0 && catMaxRatio <= 1)) throw new ArgumentOutOfRangeException(nameof(catMaxRatio), catMaxRatio, "expected a ratio in (0, 1].");
        CropHeight = cropHeight; CropWidth = cropWidth; CatMaxRatio = catMaxRatio; IgnoreIndex = ignoreIndex;
    }

    public int CropHeight { get; }
    public int CropWidth { get; }
    public double CatMaxRatio { get; }
    public byte IgnoreIndex { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng)
    {
        var box = Draw(s, rng);
        if (CatMaxRatio < 1)
            for (int t = 0; t < Attempts; t++)
            {
                if (Acceptable(s, box)) break;
                box = Draw(s, rng);
            }
        return Crop(s, box.Y, box.X, box.H, box.W);
    }

    (int Y, int X, int H, int W) Draw(SegmentationSample s, Random rng)
    {
        int marginH = Math.Max(s.Height - CropHeight, 0), marginW = Math.Max(s.Width - CropWidth, 0);
        int y = rng.Next(marginH + 1), x = rng.Next(marginW + 1);
        return (y, x, Math.Min(CropHeight, s.Height), Math.Min(CropWidth, s.Width));
    }

    bool Acceptable(SegmentationSample s, (int Y, int X, int H, int W) b)
    {
        Span<long> counts = stackalloc long[256];
        for (int i = 0; i < b.H; i++)
        {
            var row = s.Mask.AsSpan((b.Y + i) * s.Width + b.X, b.W);
            foreach (byte v in row) counts[v]++;
        }
        counts[IgnoreIndex] = 0;
        long total = 0, max = 0; int kinds = 0;
        foreach (long c in counts) { if (c == 0) continue; kinds++; total += c; max = Math.Max(max, c); }
        return kinds > 1 && (double)max / total < CatMaxRatio;
    }

    /// <summary>The window (y, x, h, w) of image and mask.</summary>
    public static SegmentationSample Crop(SegmentationSample s, int y, int x, int h, int w)
    {
        if (y < 0 || x < 0 || h <= 0 || w <= 0 || y + h > s.Height || x + w > s.Width)
            throw new ArgumentOutOfRangeException(nameof(y), $"crop ({y}, {x}, {h}, {w}) is not inside the {s.Height}×{s.Width} image.");
        if (y == 0 && x == 0 && h == s.Height && w == s.Width) return s;
        var px = new float[s.Channels * h * w];
        var mask = new byte[h * w];
        for (int c = 0; c < s.Channels; c++)
            for (int i = 0; i < h; i++)
                s.Pixels.AsSpan(c * s.Height * s.Width + (y + i) * s.Width + x, w).CopyTo(px.AsSpan(c * h * w + i * w, w));
        for (int i = 0; i < h; i++) s.Mask.AsSpan((y + i) * s.Width + x, w).CopyTo(mask.AsSpan(i * w, w));
        return new SegmentationSample(px, s.Channels, h, w, mask);
    }
}
