using System.Globalization;
using System.Text.RegularExpressions;

namespace VisionSsm.Data.Transforms;

/// <summary>
/// timm's RandAugment (timm/data/auto_augment.py <c>rand_augment_transform</c>), configured by a string such as
/// <c>rand-m9-mstd0.5-inc1</c>: sections <c>m</c> (magnitude, default 10), <c>n</c> (ops per image, default 2),
/// <c>mstd</c> (Gaussian magnitude noise; &gt; 100 → uniform in [0, m]), <c>mmax</c> (upper clip, default 10),
/// <c>inc1</c> (the "increasing" op set whose severity grows with magnitude), <c>p</c> (per-op probability, default 0.5).
/// Per image: draw n ops with replacement; each runs with probability p at a magnitude drawn from N(m, mstd)
/// clipped to [0, mmax]; signed ops flip sign with probability ½.
/// </summary>
public sealed partial class RandAugment : ISampleTransform
{
    public const string VMambaRecipe = "rand-m9-mstd0.5-inc1"; // docs/training.md §1 (VMamba and Vim)

    /// <summary>timm _RAND_TRANSFORMS.</summary>
    public static readonly IReadOnlyList<string> StandardOps =
    [
        "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
        "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
    ];

    /// <summary>timm _RAND_INCREASING_TRANSFORMS (selected by <c>inc1</c>).</summary>
    public static readonly IReadOnlyList<string> IncreasingOps =
    [
        "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
        "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
        "TranslateXRel", "TranslateYRel",
    ];

    public RandAugment(double magnitude = 10, int numOps = 2, double magnitudeStd = 0, double magnitudeMax = 10,
        bool increasing = false, double probability = 0.5, IReadOnlyList<float>? fill = null, double translatePct = 0.45)
    {
        if (magnitude < 0) throw new ArgumentOutOfRangeException(nameof(magnitude), magnitude, "expected ≥ 0.");
        if (numOps < 0) throw new ArgumentOutOfRangeException(nameof(numOps), numOps, "expected ≥ 0.");
        if (probability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected a probability in [0, 1].");
        Magnitude = magnitude; NumOps = numOps; MagnitudeStd = magnitudeStd; MagnitudeMax = magnitudeMax;
        Probability = probability; TranslatePct = translatePct;
        Ops = increasing ? IncreasingOps : StandardOps;
        // timm's fill is img_mean: the normalisation mean as 8-bit levels (here as [0, 1] values).
        Fill = fill?.ToArray() ?? [128 / 255f, 128 / 255f, 128 / 255f];
    }

    public double Magnitude { get; }
    public int NumOps { get; }
    public double MagnitudeStd { get; }
    public double MagnitudeMax { get; }
    public double Probability { get; }
    public double TranslatePct { get; }
    public IReadOnlyList<string> Ops { get; }
    public float[] Fill { get; }

    /// <summary>Parses a timm RandAugment string (<c>rand-m9-mstd0.5-inc1</c>); unknown sections are errors.</summary>
    public static RandAugment Parse(string config, IReadOnlyList<float>? fill = null)
    {
        var parts = config.Split('-');
        if (parts[0] != "rand")
            throw new ArgumentException($"RandAugment config '{config}' must start with 'rand' (e.g. {VMambaRecipe}).", nameof(config));
        double m = 10, mstd = 0, mmax = 10, p = 0.5;
        int n = 2;
        bool inc = false;
        foreach (var part in parts[1..])
        {
            var match = Section().Match(part);
            if (!match.Success) continue; // timm ignores sections without a number
            string key = match.Groups[1].Value, val = match.Groups[2].Value;
            double num = double.Parse(val, CultureInfo.InvariantCulture);
            switch (key)
            {
                case "m": m = num; break;
                case "n": n = (int)num; break;
                case "mstd": mstd = num > 100 ? double.PositiveInfinity : num; break;
                case "mmax": mmax = num; break;
                case "inc": inc = num != 0; break; // note: timm's bool("0") is True; inc0 here means off
                case "p": p = num; break;
                default: throw new ArgumentException($"unknown RandAugment section '{part}' in '{config}'; expected m, n, mstd, mmax, inc or p.", nameof(config));
            }
        }
        return new RandAugment(m, n, mstd, mmax, inc, p, fill);
    }

    [GeneratedRegex(@"^([a-z]+)(\d.*)$")]
    private static partial Regex Section();

    public ImageSample Apply(ImageSample sample, Random rng)
    {
        for (int k = 0; k < NumOps; k++)
        {
            string op = Ops[rng.Next(Ops.Count)];
            if (Probability < 1 && rng.NextDouble() > Probability) continue;
            sample = ApplyOp(sample, op, SampleMagnitude(rng), rng);
        }
        return sample;
    }

    double SampleMagnitude(Random rng)
    {
        double m = Magnitude;
        if (double.IsPositiveInfinity(MagnitudeStd)) m = rng.NextDouble() * m;
        else if (MagnitudeStd > 0) m += MagnitudeStd * rng.Gaussian();
        return Math.Clamp(m, 0, MagnitudeMax);
    }

    static double RandomlyNegate(double v, Random rng) => rng.NextDouble() > 0.5 ? -v : v;

    /// <summary>One op at a magnitude on timm's 0–10 scale (level = magnitude / 10), with timm's level→argument maps.</summary>
    public ImageSample ApplyOp(ImageSample s, string op, double magnitude, Random rng)
    {
        double level = magnitude / 10.0;
        return op switch
        {
            "AutoContrast" => AugmentOps.AutoContrast(s),
            "Equalize" => AugmentOps.Equalize(s),
            "Invert" => AugmentOps.Invert(s),
            "Rotate" => AugmentOps.Rotate(s, RandomlyNegate(level * 30, rng), Fill),
            "Posterize" => AugmentOps.Posterize(s, (int)(level * 4)),
            "PosterizeIncreasing" => AugmentOps.Posterize(s, 4 - (int)(level * 4)),
            "Solarize" => AugmentOps.Solarize(s, (int)(level * 256)),
            "SolarizeIncreasing" => AugmentOps.Solarize(s, 256 - (int)(level * 256)),
            "SolarizeAdd" => AugmentOps.SolarizeAdd(s, (int)(level * 110)),
            "Color" => AugmentOps.Color(s, Enhance(level)),
            "ColorIncreasing" => AugmentOps.Color(s, EnhanceIncreasing(level, rng)),
            "Contrast" => AugmentOps.Contrast(s, Enhance(level)),
            "ContrastIncreasing" => AugmentOps.Contrast(s, EnhanceIncreasing(level, rng)),
            "Brightness" => AugmentOps.Brightness(s, Enhance(level)),
            "BrightnessIncreasing" => AugmentOps.Brightness(s, EnhanceIncreasing(level, rng)),
            "Sharpness" => AugmentOps.Sharpness(s, Enhance(level)),
            "SharpnessIncreasing" => AugmentOps.Sharpness(s, EnhanceIncreasing(level, rng)),
            "ShearX" => AugmentOps.ShearX(s, RandomlyNegate(level * 0.3, rng), Fill),
            "ShearY" => AugmentOps.ShearY(s, RandomlyNegate(level * 0.3, rng), Fill),
            "TranslateXRel" => AugmentOps.TranslateX(s, RandomlyNegate(level * TranslatePct, rng) * s.Width, Fill),
            "TranslateYRel" => AugmentOps.TranslateY(s, RandomlyNegate(level * TranslatePct, rng) * s.Height, Fill),
            _ => throw new ArgumentException($"unknown RandAugment op '{op}'; expected one of {string.Join(", ", StandardOps.Concat(IncreasingOps).Distinct())}.", nameof(op)),
        };
    }

    /// <summary>timm _enhance_level_to_arg: [0.1, 1.9].</summary>
    static double Enhance(double level) => level * 1.8 + 0.1;

    /// <summary>timm _enhance_increasing_level_to_arg: 1 ± 0.9·level, kept ≥ 0.1.</summary>
    static double EnhanceIncreasing(double level, Random rng) => Math.Max(0.1, 1.0 + RandomlyNegate(level * 0.9, rng));

    public override string ToString() =>
        $"RandAugment(n={NumOps}, m={Magnitude}, mstd={MagnitudeStd}, mmax={MagnitudeMax}, p={Probability}, ops={(ReferenceEquals(Ops, IncreasingOps) ? "increasing" : "standard")})";
}
