namespace VisionSsm.Data.Transforms;

/// <summary>
/// torchvision ColorJitter(brightness, contrast, saturation) as timm builds it from <c>--color-jitter x</c>
/// (all three = x, hue 0): factors ~ U[max(0, 1 − x), 1 + x], applied in a random order. Brightness scales,
/// contrast blends with the mean luma, saturation blends with the luma image (identity for gray); hue shifts the HSV
/// hue by U[−hue, hue] turns (RGB only).
/// </summary>
public sealed class ColorJitter : ISampleTransform
{
    public ColorJitter(double brightness, double contrast, double saturation, double hue = 0)
    {
        foreach (var (v, n) in new[] { (brightness, nameof(brightness)), (contrast, nameof(contrast)), (saturation, nameof(saturation)) })
            if (v < 0) throw new ArgumentOutOfRangeException(n, v, "expected ≥ 0.");
        if (hue is < 0 or > 0.5) throw new ArgumentOutOfRangeException(nameof(hue), hue, "expected 0 ≤ hue ≤ 0.5.");
        Brightness = brightness; Contrast = contrast; Saturation = saturation; Hue = hue;
    }

    public ColorJitter(double strength) : this(strength, strength, strength) { }

    public double Brightness { get; }
    public double Contrast { get; }
    public double Saturation { get; }
    public double Hue { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        int[] order = [0, 1, 2, 3];
        for (int i = 3; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        foreach (int op in order)
        {
            switch (op)
            {
                case 0 when Brightness > 0: s = AugmentOps.Brightness(s, Factor(Brightness, rng)); break;
                case 1 when Contrast > 0: s = ContrastFloat(s, Factor(Contrast, rng)); break;
                case 2 when Saturation > 0: s = AugmentOps.Color(s, Factor(Saturation, rng)); break;
                case 3 when Hue > 0: s = ShiftHue(s, (rng.NextDouble() * 2 - 1) * Hue); break;
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

    /// <summary>torchvision adjust_hue: RGB → HSV, h ← (h + shift) mod 1, → RGB. Gray images are unchanged.</summary>
    public static ImageSample ShiftHue(ImageSample s, double shift)
    {
        if (s.Channels != 3) return s;
        int hw = s.Height * s.Width;
        var dst = new float[3 * hw];
        for (int i = 0; i < hw; i++)
        {
            double r = s.Pixels[i], g = s.Pixels[hw + i], b = s.Pixels[2 * hw + i];
            double max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), delta = max - min;
            double h = 0;
            if (delta > 0)
            {
                if (max == r) h = (g - b) / delta / 6;
                else if (max == g) h = ((b - r) / delta + 2) / 6;
                else h = ((r - g) / delta + 4) / 6;
            }
            h = ((h + shift) % 1 + 1) % 1;
            double sat = max == 0 ? 0 : delta / max, v = max;
            double h6 = h * 6;
            int sector = (int)Math.Floor(h6) % 6;
            double f = h6 - Math.Floor(h6);
            double p = v * (1 - sat), q = v * (1 - sat * f), t = v * (1 - sat * (1 - f));
            (r, g, b) = sector switch { 0 => (v, t, p), 1 => (q, v, p), 2 => (p, v, t), 3 => (p, q, v), 4 => (t, p, v), _ => (v, p, q) };
            dst[i] = (float)r; dst[hw + i] = (float)g; dst[2 * hw + i] = (float)b;
        }
        return s with { Pixels = dst };
    }

    public override string ToString() => $"ColorJitter(brightness={Brightness}, contrast={Contrast}, saturation={Saturation}, hue={Hue})";
}
