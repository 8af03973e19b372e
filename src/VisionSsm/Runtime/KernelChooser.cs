using System.Diagnostics;
using System.Globalization;
using System.Numerics;

namespace VisionSsm.Runtime;

/// <summary>Who runs an op that both our C# kernel and libtorch can compute (<see cref="KernelOptions.Choice"/>).</summary>
public enum KernelChoice
{
    /// <summary>Time both once per (op, shape class, dtype, threads) on the first call's own inputs; the faster is kept
    /// for the rest of the process.</summary>
    Measure,
    /// <summary>Always our kernel where it can run (the CPU has its instructions, dtype and layout fit).</summary>
    Ours,
    /// <summary>Always libtorch.</summary>
    Libtorch,
}

/// <summary>
/// Picks, by measurement on this machine, between our kernel and libtorch's for an op: no fixed size thresholds, so a
/// CPU where libtorch's library is faster (a first-generation Zen core running MKL's AVX2 GEMM near its peak) keeps
/// libtorch, and one where ours is faster (full-width AVX-512 against MKL's AVX2 path) keeps ours.
/// The first call of a key (op, shape class, dtype, thread count) runs each side <see cref="Reps"/> times, interleaved
/// (ours, libtorch, ours, …) after one untimed warm-up of each, and keeps the side with the lower median; later calls
/// of the key look the choice up. The decision depends only on the timings, so with an injected timer it is
/// deterministic (tests). Shape class: each size rounded up to a power of two.
/// </summary>
public sealed class KernelChooser
{
    readonly Func<Action, double> timer;
    readonly Dictionary<string, bool> choices = new(StringComparer.Ordinal);
    readonly Lock gate = new();

    /// <summary>A chooser timing with <paramref name="timer"/> (ms of running the action; default: wall time).</summary>
    public KernelChooser(Func<Action, double>? timer = null, int reps = 3)
    {
        if (reps < 1) throw new ArgumentOutOfRangeException(nameof(reps), reps, "expected ≥ 1 timed run per side");
        this.timer = timer ?? WallMs;
        Reps = reps;
    }

    /// <summary>The process's chooser (used by the kernels' dispatch).</summary>
    public static KernelChooser Process { get; } = new();

    /// <summary>Timed runs per side.</summary>
    public int Reps { get; }

    static double WallMs(Action run)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    /// <summary>The key of one decision: op name, shape class (each size rounded up to a power of two), dtype, threads.</summary>
    public static string Key(string op, string dtype, int threads, params long[] sizes) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{op}|{string.Join('x', sizes.Select(s => s <= 1 ? 1 : (long)BitOperations.RoundUpToPowerOf2((ulong)s)))}|{dtype}|t{threads}");

    /// <summary>
    /// True when our kernel should run. <see cref="KernelChoice.Ours"/> and <see cref="KernelChoice.Libtorch"/> decide
    /// without timing; <see cref="KernelChoice.Measure"/> times <paramref name="ours"/> against <paramref name="libtorch"/>
    /// the first time <paramref name="key"/> is seen (each action must compute and release one result).
    /// </summary>
    public bool PreferOurs(KernelChoice mode, string key, Action ours, Action libtorch)
    {
        if (mode == KernelChoice.Ours) return true;
        if (mode == KernelChoice.Libtorch) return false;
        lock (gate)
        {
            if (choices.TryGetValue(key, out bool known)) return known;
            ours();
            libtorch();
            var a = new double[Reps];
            var b = new double[Reps];
            for (int i = 0; i < Reps; i++)
            {
                a[i] = timer(ours);
                b[i] = timer(libtorch);
            }
            bool pick = Median(a) < Median(b);
            choices[key] = pick;
            return pick;
        }
    }

    /// <summary>The decisions taken so far: key → true when ours won.</summary>
    public IReadOnlyDictionary<string, bool> Choices
    {
        get { lock (gate) return new Dictionary<string, bool>(choices, StringComparer.Ordinal); }
    }

    /// <summary>Forgets every decision (benchmarks that change the machine's state between runs).</summary>
    public void Clear()
    {
        lock (gate) choices.Clear();
    }

    static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
