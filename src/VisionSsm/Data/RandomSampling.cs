namespace VisionSsm.Data;

/// <summary>Distributions drawn from a <see cref="Random"/> (the only randomness source of the data pipeline).</summary>
public static class RandomSampling
{
    /// <summary>N(0, 1) by Box–Muller.</summary>
    public static double Gaussian(this Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Gamma(shape, 1) by Marsaglia–Tsang (2000); shape &lt; 1 via the U^(1/shape) boost.</summary>
    public static double Gamma(this Random rng, double shape)
    {
        if (!(shape > 0)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "expected > 0.");
        if (shape < 1) return rng.Gamma(shape + 1) * Math.Pow(1.0 - rng.NextDouble(), 1.0 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do { x = rng.Gaussian(); v = 1 + c * x; } while (v <= 0);
            v = v * v * v;
            double u = 1.0 - rng.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b).</summary>
    public static double Beta(this Random rng, double a, double b)
    {
        double x = rng.Gamma(a), y = rng.Gamma(b);
        return x / (x + y);
    }
}
