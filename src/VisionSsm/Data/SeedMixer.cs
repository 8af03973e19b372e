namespace VisionSsm.Data;

/// <summary>
/// Derives independent, repeatable seeds from (seed, epoch, index) with SplitMix64 finalisers, so per-sample
/// randomness depends only on those numbers and never on thread timing or on how many items came before.
/// </summary>
public static class SeedMixer
{
    public static int Mix(long a, long b, long c = 0, long d = 0)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (long v in (ReadOnlySpan<long>)[a, b, c, d]) h = SplitMix(h ^ (ulong)v);
        return (int)(h ^ (h >> 32)) & int.MaxValue;
    }

    static ulong SplitMix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A <see cref="Random"/> for (seed, epoch, index, stream); System.Random(int) is stable across .NET versions.</summary>
    public static Random Rng(long seed, long epoch, long index, long stream = 0) => new(Mix(seed, epoch, index, stream));
}
