using static TorchSharp.torch;

namespace VisionSsm.Detection.Models;

/// <summary>
/// mmdetection's <c>RandomSampler</c> (<c>mmdet/models/task_modules/samplers/random_sampler.py</c>, <c>neg_pos_ub = −1</c>):
/// from an assignment (−1 ignored, 0 negative, k + 1 positive) draws at most ⌊num · fraction⌋ positives uniformly without
/// replacement, then fills the rest of <c>num</c> with negatives the same way. Randomness comes from libtorch's generator
/// (<c>torch.randperm</c>), so <c>torch.manual_seed</c> makes it repeatable.
/// </summary>
public sealed record RandomSampler(int Num, double PositiveFraction)
{
    /// <summary>Indices of the sampled positives and negatives (each in ascending order of the draw).</summary>
    public (long[] Positive, long[] Negative) Sample(long[] assigned)
    {
        var pos = Enumerable.Range(0, assigned.Length).Where(i => assigned[i] > 0).Select(i => (long)i).ToArray();
        var neg = Enumerable.Range(0, assigned.Length).Where(i => assigned[i] == 0).Select(i => (long)i).ToArray();
        int wantPos = (int)(Num * PositiveFraction);
        var p = Choose(pos, wantPos);
        var q = Choose(neg, Num - p.Length);
        return (p, q);
    }

    /// <summary>All of <paramref name="pool"/> when it has at most <paramref name="count"/> items, else a uniform random subset.</summary>
    static long[] Choose(long[] pool, int count)
    {
        if (count <= 0) return [];
        if (pool.Length <= count) return pool;
        using var perm = randperm(pool.Length, dtype: ScalarType.Int64);
        var order = perm.data<long>().ToArray();
        var result = new long[count];
        for (int i = 0; i < count; i++) result[i] = pool[order[i]];
        return result;
    }
}
