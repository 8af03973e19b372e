namespace VisionSsm.Training;

/// <summary>
/// Every random stream of a run derives from the run seed and its position (epoch, batch, sample) with SplitMix64,
/// so a run is repeatable and a resumed run replays exactly the streams an uninterrupted run would have used,
/// whatever order background threads prepare the samples in.
/// </summary>
public static class RunSeeds
{
    public const long Shuffle = 1, Sample = 2, Batch = 3, Torch = 4;

    public static int Derive(int seed, long stream, long a = 0, long b = 0)
    {
        ulong x = (ulong)(uint)seed;
        x = Mix(x ^ Mix((ulong)stream + 0x9E3779B97F4A7C15UL));
        x = Mix(x ^ Mix((ulong)a + 0xBF58476D1CE4E5B9UL));
        x = Mix(x ^ Mix((ulong)b + 0x94D049BB133111EBUL));
        return (int)(x & 0x7FFFFFFF);
    }

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The sample order of <paramref name="epoch"/>: a Fisher–Yates shuffle seeded by (seed, epoch).</summary>
    public static int[] Permutation(int seed, int epoch, int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(Derive(seed, Shuffle, epoch)).Shuffle(order);
        return order;
    }
}
