using System.Diagnostics;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `scan-chunked`: the loop-free chunked scan (<see cref="SelectiveScanChunked"/>, the path of devices without a
/// kernel and of export) beside the CPU kernel and the reference twin, forward and forward+backward, float32, at the
/// Vim-S layer shape and the four VMamba-T stage shapes. Variants run interleaved rep by rep, so load on the shared
/// machine hits them alike. The decay column is the size of the (rows, L/Q, Q, Q) decay at the first level: the
/// forward's transient is bounded by <see cref="SelectiveScanChunked.BlockElements"/>, but autograd keeps all of it.
/// Options: --threads N (default 2), --runs N (default 7), --chunks 4,8,16 (chunk lengths to time), --no-reference,
/// --large (adds VMamba at 512 px, L 16384, forward only), --only TEXT (cases whose name contains TEXT).
/// </summary>
public static class ChunkedScanBench
{
    sealed record Case(string Name, int Batch, int Channels, int States, int Length, int Groups, bool WithZ);

    static readonly Case[] Cases =
    [
        new("Vim-S layer (B1 D768 N16 L197 G1 z)", 1, 768, 16, 197, 1, true),
        new("VMamba-T stage 1 (B1 D384=4x96 N1 L3136 G4)", 1, 384, 1, 3136, 4, false),
        new("VMamba-T stage 2 (B1 D768=4x192 N1 L784 G4)", 1, 768, 1, 784, 4, false),
        new("VMamba-T stage 3 (B1 D1536=4x384 N1 L196 G4)", 1, 1536, 1, 196, 4, false),
        new("VMamba-T stage 4 (B1 D3072=4x768 N1 L49 G4)", 1, 3072, 1, 49, 4, false),
    ];

    static readonly Case Large = new("VMamba 512 px (B1 D384=4x96 N1 L16384 G4)", 1, 384, 1, 16384, 4, false);

    public static void RegisterSuite() =>
        Suites.Register("scan-chunked", "selective scan: loop-free chunked form vs CPU kernel and reference twin", Run);

    static int Run(string[] args)
    {
        int threads = Option(args, "--threads", "2", int.Parse);
        int runs = Math.Max(3, Option(args, "--runs", "7", int.Parse));
        int[] chunks = Option(args, "--chunks", "4,8,16", s => s.Split(',').Select(int.Parse).ToArray());
        bool reference = !args.Contains("--no-reference");
        TorchRuntime.SetThreads(threads);
        Console.WriteLine($"## Chunked selective scan — {threads} thread(s), float32, median wall ms (min process-CPU ms) of {runs} interleaved runs after 2 warm-ups");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        Console.WriteLine();
        string qs = string.Join(" | ", chunks.Select(q => $"chunked Q{q}"));
        Console.WriteLine($"| case | pass | CPU kernel | {qs} | reference | decay MB at Q{chunks[^1]} |");
        Console.WriteLine($"|---|---|---|{string.Concat(chunks.Select(_ => "---|"))}---|---|");
        var cases = args.Contains("--large") ? [.. Cases, Large] : Cases;
        string? only = Option<string?>(args, "--only", "", v => v.Length == 0 ? null : v);
        foreach (var c in cases.Where(c => only is null || c.Name.Contains(only, StringComparison.Ordinal)))
        {
            using var scope = NewDisposeScope();
            var x = Inputs(c);
            var g = randn(c.Batch, c.Channels, c.Length);
            long rows = (long)c.Batch * c.Channels * c.States;
            int qMax = chunks[^1];
            double decayMb = 4.0 * rows * ((c.Length + qMax - 1) / qMax * qMax) * qMax / 1e6;
            bool big = c.Length > 4000;
            foreach (bool backward in big ? new[] { false } : [false, true])
            {
                var variants = new List<Action> { () => Pass(x, g, backward, args => SelectiveScan.ApplyWithLastState(args.U, args.Delta, args.A, args.B, args.C, args.D, args.Z, args.DeltaBias, true)) };
                foreach (int q in chunks) variants.Add(() => Pass(x, g, backward, args => SelectiveScanChunked.Apply(args, q)));
                var times = Interleaved(variants, runs);
                // The reference loops over L with ~6 small ops per step: a few runs suffice.
                string refMs = reference && !big
                    ? F(Interleaved([() => Pass(x, g, backward, SelectiveScanReference.Apply)], 3, warmup: 1)[0]) : "–";
                Console.WriteLine($"| {c.Name} | {(backward ? "fwd+bwd" : "fwd")} | {string.Join(" | ", times.Select(F))} | {refMs} | {decayMb:F0} |");
            }
        }
        return 0;
    }

    static void Pass(Tensor?[] x, Tensor g, bool backward, Func<ScanArguments, (Tensor y, Tensor lastState)> scan)
    {
        using var scope = NewDisposeScope();
        if (!backward)
        {
            using var _ = no_grad();
            scan(ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], true));
            return;
        }
        var leaves = x.Select(t => t?.detach().requires_grad_(true)).ToArray();
        var (y, _) = scan(ScanArguments.Validate(leaves[0]!, leaves[1]!, leaves[2]!, leaves[3]!, leaves[4]!, leaves[5], leaves[6], leaves[7], true));
        y.backward([g]);
    }

    static (List<double> wall, List<double> cpu)[] Interleaved(List<Action> variants, int runs, int warmup = 2)
    {
        var t = variants.Select(_ => (new List<double>(), new List<double>())).ToArray();
        for (int i = 0; i < warmup + runs; i++)
            for (int v = 0; v < variants.Count; v++)
            {
                double c0 = Measure.ProcessCpuMs();
                long t0 = Stopwatch.GetTimestamp();
                variants[v]();
                if (i < warmup) continue;
                t[v].Item1.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                t[v].Item2.Add(Measure.ProcessCpuMs() - c0);
            }
        return t;
    }

    /// <summary>Median wall ms, and in brackets the min process CPU ms (all threads: the work, immune to preemption).</summary>
    static string F((List<double> wall, List<double> cpu) v)
    {
        v.wall.Sort();
        return $"{v.wall[v.wall.Count / 2]:F2} ({v.cpu.Min():F2})";
    }

    static Tensor?[] Inputs(Case c) => ScanBench.Inputs(c.Batch, c.Channels, c.States, c.Length, c.Groups, c.WithZ);

    static T Option<T>(string[] args, string name, string fallback, Func<string, T> parse)
    {
        int i = Array.IndexOf(args, name);
        return parse(i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback);
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
