namespace VisionSsm.Data.Transforms;

/// <summary>How <see cref="RandomErasing"/> fills the box (timm re_mode).</summary>
public enum ErasingMode
{
    /// <summary>Zeros (the normalised mean).</summary>
    Const,
    /// <summary>One N(0, 1) value per channel.</summary>
    Rand,
    /// <summary>An N(0, 1) value per pixel and channel (timm's default for ImageNet recipes, "pixel").</summary>
    Pixel,
}

/// <summary>
/// timm RandomErasing (Zhong et al. 2017) applied after normalisation: with probability p, erase <c>count</c>
/// boxes; each tries 10 times an area ~ U[minArea, maxArea]·HW/count and log-aspect ~ U[log minAspect, −log minAspect],
/// accepting the first box strictly smaller than the image.
/// </summary>
public sealed class RandomErasing : ISampleTransform
{
    public RandomErasing(double probability = 0.25, ErasingMode mode = ErasingMode.Pixel, int maxCount = 1,
        double minArea = 0.02, double maxArea = 1.0 / 3, double minAspect = 0.3)
    {
        if (probability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected a probability in [0, 1].");
        if (maxCount < 1) throw new ArgumentOutOfRangeException(nameof(maxCount), maxCount, "expected ≥ 1.");
        if (!(minArea > 0 && minArea <= maxArea && maxArea <= 1)) throw new ArgumentException($"area ({minArea}, {maxArea}) must satisfy 0 < min ≤ max ≤ 1.", nameof(minArea));
        if (!(minAspect > 0)) throw new ArgumentOutOfRangeException(nameof(minAspect), minAspect, "expected > 0.");
        Probability = probability; Mode = mode; MaxCount = maxCount; MinArea = minArea; MaxArea = maxArea; MinAspect = minAspect;
    }

    public double Probability { get; }
    public ErasingMode Mode { get; }
    public int MaxCount { get; }
    public double MinArea { get; }
    public double MaxArea { get; }
    public double MinAspect { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        if (rng.NextDouble() > Probability) return s;
        var dst = (float[])s.Pixels.Clone();
        int h = s.Height, w = s.Width;
        double area = (double)h * w, logLo = Math.Log(MinAspect), logHi = -logLo;
        int count = MaxCount == 1 ? 1 : 1 + rng.Next(MaxCount);
        for (int k = 0; k < count; k++)
            for (int attempt = 0; attempt < 10; attempt++)
            {
                double target = (MinArea + rng.NextDouble() * (MaxArea - MinArea)) * area / count;
                double aspect = Math.Exp(logLo + rng.NextDouble() * (logHi - logLo));
                int bh = (int)Math.Round(Math.Sqrt(target * aspect)), bw = (int)Math.Round(Math.Sqrt(target / aspect));
                if (bw >= w || bh >= h) continue;
                int top = rng.Next(h - bh + 1), left = rng.Next(w - bw + 1);
                for (int c = 0; c < s.Channels; c++)
                {
                    float channelValue = Mode == ErasingMode.Rand ? (float)rng.Gaussian() : 0f;
                    for (int y = top; y < top + bh; y++)
                        for (int x = left; x < left + bw; x++)
                            dst[(c * h + y) * w + x] = Mode == ErasingMode.Pixel ? (float)rng.Gaussian() : channelValue;
                }
                break;
            }
        return s with { Pixels = dst };
    }

    public override string ToString() => $"RandomErasing(p={Probability}, {Mode}, count≤{MaxCount})";
}
