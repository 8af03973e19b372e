namespace VisionSsm.Data.Transforms;

/// <summary>
/// The image operations of AutoAugment/RandAugment on float CHW images in [0, 1], following PIL's definitions as
/// timm uses them (timm/data/auto_augment.py on uint8 PIL images). Pixel values are scaled by 255 where PIL works
/// on 8-bit levels (histograms, thresholds, bit masks); results are clamped to [0, 1] as uint8 storage would.
/// Every op returns a new sample.
/// </summary>
public static class AugmentOps
{
    public static ImageSample Invert(ImageSample s) => Map(s, v => 1f - v);

    /// <summary>PIL ImageOps.autocontrast (cutoff 0): per channel, stretch [min, max] to [0, 1]; flat channels unchanged.</summary>
    public static ImageSample AutoContrast(ImageSample s)
    {
        var dst = (float[])s.Pixels.Clone();
        int hw = s.Height * s.Width;
        for (int c = 0; c < s.Channels; c++)
        {
            var p = dst.AsSpan(c * hw, hw);
            float lo = float.MaxValue, hi = float.MinValue;
            foreach (float v in p) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
            if (hi <= lo) continue;
            float scale = 1f / (hi - lo);
            for (int i = 0; i < p.Length; i++) p[i] = (p[i] - lo) * scale;
        }
        return s with { Pixels = dst };
    }

    /// <summary>PIL ImageOps.equalize per channel on 8-bit levels: step = (N − count of the last used level) // 255,
    /// lut[i] = (step // 2 + Σ_{j&lt;i} h[j]) // step; identity when step is 0.</summary>
    public static ImageSample Equalize(ImageSample s)
    {
        var dst = new float[s.Pixels.Length];
        int hw = s.Height * s.Width;
        var q = new int[hw];
        var hist = new int[256];
        var lut = new float[256];
        for (int c = 0; c < s.Channels; c++)
        {
            var src = s.Pixels.AsSpan(c * hw, hw);
            Array.Clear(hist);
            for (int i = 0; i < hw; i++) { q[i] = Level(src[i]); hist[q[i]]++; }
            int last = 255;
            while (last >= 0 && hist[last] == 0) last--;
            int step = (hw - hist[last]) / 255;
            var outp = dst.AsSpan(c * hw, hw);
            if (step == 0) { src.CopyTo(outp); continue; }
            int n = step / 2;
            for (int i = 0; i < 256; i++) { lut[i] = Math.Min(255, n / step) / 255f; n += hist[i]; }
            for (int i = 0; i < hw; i++) outp[i] = lut[q[i]];
        }
        return s with { Pixels = dst };
    }

    /// <summary>PIL ImageOps.posterize: keep the top <paramref name="bits"/> of each 8-bit level (bits ≥ 8: unchanged).</summary>
    public static ImageSample Posterize(ImageSample s, int bits)
    {
        if (bits >= 8) return s;
        int mask = ~((1 << (8 - Math.Max(bits, 0))) - 1) & 0xff;
        return Map(s, v => (Level(v) & mask) / 255f);
    }

    /// <summary>PIL ImageOps.solarize: levels below <paramref name="threshold"/> (0..256) stay, others invert.</summary>
    public static ImageSample Solarize(ImageSample s, double threshold) =>
        Map(s, v => v * 255f < threshold ? v : 1f - v);

    /// <summary>timm solarize_add: levels below <paramref name="threshold"/> get +<paramref name="add"/> (saturating at 255).</summary>
    public static ImageSample SolarizeAdd(ImageSample s, int add, double threshold = 128) =>
        Map(s, v => v * 255f < threshold ? Math.Min(1f, v + add / 255f) : v);

    /// <summary>PIL ImageEnhance.Color: blend with the luma image (factor 0 → gray, 1 → unchanged). Gray input is unchanged.</summary>
    public static ImageSample Color(ImageSample s, double factor)
    {
        if (s.Channels != 3) return s;
        int hw = s.Height * s.Width;
        var gray = ConvertChannels.Luma(s.Pixels, hw);
        var dst = new float[s.Pixels.Length];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < hw; i++) dst[c * hw + i] = Blend(gray[i], s.Pixels[c * hw + i], factor);
        return s with { Pixels = dst };
    }

    /// <summary>PIL ImageEnhance.Contrast: blend with a flat image at the mean luma level (rounded to 8 bits as PIL does).</summary>
    public static ImageSample Contrast(ImageSample s, double factor)
    {
        float mean = MathF.Round(MeanLuma(s) * 255f) / 255f;
        return Map(s, v => Blend(mean, v, factor));
    }

    /// <summary>PIL ImageEnhance.Brightness: blend with black, i.e. scale by the factor.</summary>
    public static ImageSample Brightness(ImageSample s, double factor) => Map(s, v => Blend(0f, v, factor));

    /// <summary>PIL ImageEnhance.Sharpness: blend with the SMOOTH-filtered image (3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13,
    /// border pixels kept), factor 0 → smoothed, 1 → unchanged, 2 → sharpened.</summary>
    public static ImageSample Sharpness(ImageSample s, double factor)
    {
        int h = s.Height, w = s.Width, hw = h * w;
        var dst = (float[])s.Pixels.Clone();
        for (int c = 0; c < s.Channels; c++)
        {
            var src = s.Pixels.AsSpan(c * hw, hw);
            for (int y = 1; y < h - 1; y++)
                for (int x = 1; x < w - 1; x++)
                {
                    float sum = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) sum += src[(y + dy) * w + x + dx];
                    float center = src[y * w + x];
                    float smooth = (sum + 4 * center) / 13f;
                    dst[c * hw + y * w + x] = Blend(smooth, center, factor);
                }
        }
        return s with { Pixels = dst };
    }

    /// <summary>PIL Image.rotate(degrees) about the image centre (counter-clockwise for positive degrees), fill outside.</summary>
    public static ImageSample Rotate(ImageSample s, double degrees, IReadOnlyList<float> fill)
    {
        double a = -degrees * Math.PI / 180, cos = Math.Cos(a), sin = Math.Sin(a);
        double cx = s.Width / 2.0, cy = s.Height / 2.0;
        // input = M · (output − centre) + centre, with M = [cos sin; −sin cos] (PIL's rotate matrix)
        return Affine(s, cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, fill);
    }

    public static ImageSample ShearX(ImageSample s, double factor, IReadOnlyList<float> fill) => Affine(s, 1, factor, 0, 0, 1, 0, fill);
    public static ImageSample ShearY(ImageSample s, double factor, IReadOnlyList<float> fill) => Affine(s, 1, 0, 0, factor, 1, 0, fill);
    public static ImageSample TranslateX(ImageSample s, double pixels, IReadOnlyList<float> fill) => Affine(s, 1, 0, pixels, 0, 1, 0, fill);
    public static ImageSample TranslateY(ImageSample s, double pixels, IReadOnlyList<float> fill) => Affine(s, 1, 0, 0, 0, 1, pixels, fill);

    /// <summary>
    /// PIL Image.transform(AFFINE, (a, b, c, d, e, f)): output pixel centre (x, y) samples the input at
    /// (a·x + b·y + c, d·x + e·y + f), bilinearly; samples outside the image get <paramref name="fill"/>.
    /// </summary>
    public static ImageSample Affine(ImageSample s, double a, double b, double c, double d, double e, double f, IReadOnlyList<float> fill)
    {
        int h = s.Height, w = s.Width, hw = h * w;
        var dst = new float[s.Pixels.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double px = x + 0.5, py = y + 0.5;
                double sx = a * px + b * py + c - 0.5, sy = d * px + e * py + f - 0.5; // to pixel-index space
                int o = y * w + x;
                if (sx < -0.5 || sy < -0.5 || sx > w - 0.5 || sy > h - 0.5)
                {
                    for (int ch = 0; ch < s.Channels; ch++) dst[ch * hw + o] = fill.Count == 0 ? 0 : fill[Math.Min(ch, fill.Count - 1)];
                    continue;
                }
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                float fx = (float)(sx - x0), fy = (float)(sy - y0);
                int xa = Math.Clamp(x0, 0, w - 1), xb = Math.Clamp(x0 + 1, 0, w - 1);
                int ya = Math.Clamp(y0, 0, h - 1), yb = Math.Clamp(y0 + 1, 0, h - 1);
                for (int ch = 0; ch < s.Channels; ch++)
                {
                    var p = s.Pixels.AsSpan(ch * hw, hw);
                    float top = p[ya * w + xa] + fx * (p[ya * w + xb] - p[ya * w + xa]);
                    float bot = p[yb * w + xa] + fx * (p[yb * w + xb] - p[yb * w + xa]);
                    dst[ch * hw + o] = top + fy * (bot - top);
                }
            }
        return s with { Pixels = dst };
    }

    /// <summary>Mean of the luma image (the channel itself for gray).</summary>
    internal static float MeanLuma(ImageSample s)
    {
        int hw = s.Height * s.Width;
        var l = s.Channels == 3 ? ConvertChannels.Luma(s.Pixels, hw) : s.Pixels;
        double sum = 0;
        for (int i = 0; i < hw; i++) sum += l[i];
        return (float)(sum / hw);
    }

    /// <summary>PIL Image.blend(degenerate, image, factor) = degenerate + factor·(image − degenerate), clamped.</summary>
    static float Blend(float degenerate, float v, double factor) => Math.Clamp((float)(degenerate + factor * (v - degenerate)), 0f, 1f);

    /// <summary>The 8-bit level of a value in [0, 1] (ToTensor's inverse: round(v·255)).</summary>
    static int Level(float v) => Math.Clamp((int)MathF.Round(v * 255f), 0, 255);

    static ImageSample Map(ImageSample s, Func<float, float> f)
    {
        var dst = new float[s.Pixels.Length];
        for (int i = 0; i < dst.Length; i++) dst[i] = f(s.Pixels[i]);
        return s with { Pixels = dst };
    }
}
