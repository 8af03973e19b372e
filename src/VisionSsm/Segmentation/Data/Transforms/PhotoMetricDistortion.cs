namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// mmseg <c>PhotoMetricDistortion</c> on the image only, in mmseg's order and with its draws: brightness (p ½, add
/// δ ~ U(−32, 32)/255); a coin picks the contrast slot; in slot "first" contrast (p ½, multiply by α ~ U(0.5, 1.5));
/// saturation (p ½, HSV S × U(0.5, 1.5)); hue (p ½, H + d·2°, d an integer in [−18, 18), OpenCV's 8-bit hue unit
/// being 2°); contrast in slot "last" otherwise. Every step clips to [0, 1]. Differences from mmseg, by design: values
/// stay floating point (mmseg rounds to 8 bits after each step), and one-channel images skip saturation and hue.
/// </summary>
public sealed class PhotoMetricDistortion : ISegmentationTransform
{
    public PhotoMetricDistortion(int brightnessDelta = 32, double contrastLower = 0.5, double contrastUpper = 1.5,
        double saturationLower = 0.5, double saturationUpper = 1.5, int hueDelta = 18)
    {
        if (brightnessDelta < 0 || hueDelta < 0) throw new ArgumentOutOfRangeException(nameof(brightnessDelta), "deltas must not be negative.");
        if (!(contrastLower >= 0 && contrastUpper >= contrastLower)) throw new ArgumentOutOfRangeException(nameof(contrastLower), "expected 0 ≤ lower ≤ upper contrast.");
        if (!(saturationLower >= 0 && saturationUpper >= saturationLower)) throw new ArgumentOutOfRangeException(nameof(saturationLower), "expected 0 ≤ lower ≤ upper saturation.");
        BrightnessDelta = brightnessDelta; ContrastLower = contrastLower; ContrastUpper = contrastUpper;
        SaturationLower = saturationLower; SaturationUpper = saturationUpper; HueDelta = hueDelta;
    }

    public int BrightnessDelta { get; }
    public double ContrastLower { get; }
    public double ContrastUpper { get; }
    public double SaturationLower { get; }
    public double SaturationUpper { get; }
    public int HueDelta { get; }

    public SegmentationSample Apply(SegmentationSample s, Random rng)
    {
        var px = (float[])s.Pixels.Clone();
        if (Coin(rng)) Affine(px, 1, (float)Uniform(rng, -BrightnessDelta, BrightnessDelta) / 255f);
        bool contrastFirst = Coin(rng);
        if (contrastFirst && Coin(rng)) Affine(px, (float)Uniform(rng, ContrastLower, ContrastUpper), 0);
        if (s.Channels == 3)
        {
            int hw = s.Height * s.Width;
            if (Coin(rng)) Hsv(px, hw, (float)Uniform(rng, SaturationLower, SaturationUpper), 0);
            if (Coin(rng)) Hsv(px, hw, 1, 2 * (HueDelta == 0 ? 0 : rng.Next(-HueDelta, HueDelta)));
        }
        if (!contrastFirst && Coin(rng)) Affine(px, (float)Uniform(rng, ContrastLower, ContrastUpper), 0);
        return s with { Pixels = px };
    }

    static bool Coin(Random rng) => rng.Next(2) == 1;
    static double Uniform(Random rng, double lo, double hi) => lo + rng.NextDouble() * (hi - lo);

    static void Affine(float[] px, float alpha, float beta)
    {
        for (int i = 0; i < px.Length; i++) px[i] = Math.Clamp(px[i] * alpha + beta, 0f, 1f);
    }

    /// <summary>Scales saturation by <paramref name="satScale"/> (clipped to [0, 1]) and turns hue by <paramref name="hueDegrees"/>, per pixel, RGB ↔ HSV.</summary>
    static void Hsv(float[] px, int hw, float satScale, int hueDegrees)
    {
        for (int i = 0; i < hw; i++)
        {
            float r = px[i], g = px[hw + i], b = px[2 * hw + i];
            float v = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), d = v - min;
            float sat = v > 0 ? d / v : 0;
            float h = 0;
            if (d > 0)
            {
                h = v == r ? 60 * (g - b) / d : v == g ? 120 + 60 * (b - r) / d : 240 + 60 * (r - g) / d;
                if (h < 0) h += 360;
            }
            sat = Math.Clamp(sat * satScale, 0f, 1f);
            h = ((h + hueDegrees) % 360 + 360) % 360;
            // HSV → RGB (the standard sextant formula).
            float c = v * sat, hp = h / 60f, x = c * (1 - Math.Abs(hp % 2 - 1)), m = v - c;
            (float rr, float gg, float bb) = (int)hp switch
            {
                0 => (c, x, 0f), 1 => (x, c, 0f), 2 => (0f, c, x), 3 => (0f, x, c), 4 => (x, 0f, c), _ => (c, 0f, x),
            };
            px[i] = rr + m; px[hw + i] = gg + m; px[2 * hw + i] = bb + m;
        }
    }
}
