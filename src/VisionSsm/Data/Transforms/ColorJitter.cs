namespace VisionSsm.Data.Transforms;

/// <summary>
/// torchvision ColorJitter(brightness, contrast, saturation) as timm builds it from <c>--color-jitter x</c>
/// (all three = x, hue 0): factors ~ U[max(0, 1 − x), 1 + x], applied in a random order. Brightness scales,
/// contrast blends with the mean luma, saturation blends with the luma image (identity for gray). Hue is not supported.
/// </summary>
public sealed class ColorJitter : ISampleTransform
{
    public ColorJitter(double brightness, double contrast, double saturation)
    {
        foreach (var (v, n) in new[] { (brightness, nameof(brightness)), (contrast, nameof(contrast)), (saturation, nameof(saturation)) })
            if (v < 0) throw new ArgumentOutOfRangeException(n, v, "expected ≥ 0.");
        Brightness = brightness; Contrast = contrast; Saturation = saturation;
    }

    public ColorJitter(double strength) : this(strength, strength, strength) { }

    public double Brightness { get; }
    public double Contrast { get; }
    public double Saturation { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        int[] order = [0, 1, 2];
        for (int i = 2; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        foreach (int op in order)
        {
            switch (op)
            {
                case 0 when Brightness > 0: s = AugmentOps.Brightness(s, Factor(Brightness, rng)); break;
                case 1 when Contrast > 0: s = ContrastFloat(s, Factor(Contrast, rng)); break;
                case 2 when Saturation > 0: s = AugmentOps.Color(s, Factor(Saturation, rng)); break;
            }
        }
        return s;
    }

    static double Factor(double x, Random rng) { double lo = Math.Max(0, 1 - x), hi = 1 + x; return lo + rng.NextDouble() * (hi - lo); }

    /// <summary>torchvision adjust_contrast on float tensors: blend with the (unrounded) mean luma.</summary>
    static ImageSample ContrastFloat(ImageSample s, double factor)
    {
        float mean = AugmentOps.MeanLuma(s);
        var dst = new float[s.Pixels.Length];
        for (int i = 0; i < dst.Length; i++) dst[i] = Math.Clamp((float)(mean + factor * (s.Pixels[i] - mean)), 0f, 1f);
        return s with { Pixels = dst };
    }

    public override string ToString() => $"ColorJitter(brightness={Brightness}, contrast={Contrast}, saturation={Saturation})";
}
