namespace VisionSsm.Data;

/// <summary>
/// The order in which an iteration-based training loop visits a data set: pass p is a Fisher–Yates permutation drawn
/// from <c>SeedMixer.Rng(seed, p, 0, stream)</c>, and the batch of step t is the next slice (wrapping into the following
/// pass). The batch of any step is a function of (seed, count, batch size, t) alone, so a resumed run sees the same
/// batches as an uninterrupted one. Not thread-safe (one cached permutation).
/// </summary>
public sealed class SeededOrder
{
    readonly int count, seed;
    readonly long stream;
    long cachedPass = -1;
    int[] cachedPermutation = [];

    public SeededOrder(int count, int seed, long stream)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "expected a non-empty data set.");
        (this.count, this.seed, this.stream) = (count, seed, stream);
    }

    /// <summary>The data set indices of step <paramref name="step"/>: items step·b … step·b + b − 1 of the concatenated passes.</summary>
    public int[] Indices(long step, int batchSize)
    {
        var result = new int[batchSize];
        for (int k = 0; k < batchSize; k++)
        {
            long flat = step * batchSize + k;
            result[k] = Permutation(flat / count)[(int)(flat % count)];
        }
        return result;
    }

    /// <summary>The visiting order of pass <paramref name="pass"/>.</summary>
    public int[] Permutation(long pass)
    {
        if (pass == cachedPass) return cachedPermutation;
        var rng = SeedMixer.Rng(seed, pass, 0, stream);
        var p = Enumerable.Range(0, count).ToArray();
        for (int i = p.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        (cachedPass, cachedPermutation) = (pass, p);
        return p;
    }
}
