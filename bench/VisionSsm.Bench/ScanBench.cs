using System.Diagnostics;
using System.Runtime.InteropServices;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `scan`: the selective-scan speed table of issue 2 — CPU kernel forward and forward+backward, the reference twin
/// on the same cases, FLOP rate (VMamba's 9·B·L·D·N convention) and bytes moved against the machine ceiling
/// (ecosystem.md §4.2: ~135 GFLOP/s f32 matmul and ~11 GB/s streaming on 2 threads).
/// Options: --threads N (default 2), --runs N (default 20), --no-reference, --no-malloc-tuning (by default, as the
/// VMamba bench, <see cref="MallocTuning.KeepLargeBlocksInHeap"/> keeps freed multi-MB buffers in the heap so every
/// call does not page-fault fresh mmap'd memory).
/// </summary>
public static class ScanBench
{
    sealed record Case(string Name, int Batch, int Channels, int States, int Length, int Groups, bool WithZ,
        double TargetFwdMs, double TargetFwdBwdMs);

    static readonly Case[] Cases =
    [
        new("Vim-S layer (B1 D768 N16 L197 G1 z)", 1, 768, 16, 197, 1, true, 1.0, 4.0),
        new("VMamba-T stage 1 (B1 D384=4x96 N1 L3136)", 1, 384, 1, 3136, 4, false, 1.5, 6.0),
        new("VMamba 512 px (B1 D384=4x96 N1 L16384)", 1, 384, 1, 16384, 4, false, 8.0, double.NaN),
    ];

    public static void RegisterSuite() =>
        Suites.Register("scan", "selective scan: CPU kernel vs reference twin (issue 2 speed table)", Run);

    static int Run(string[] args)
    {
        int threads = Option(args, "--threads", 2);
        int runs = Math.Max(10, Option(args, "--runs", 20));
        bool reference = !args.Contains("--no-reference");
        bool malloc = !args.Contains("--no-malloc-tuning") && MallocTuning.KeepLargeBlocksInHeap();
        TorchRuntime.SetThreads(threads);
        Console.WriteLine($"## Selective scan — {threads} thread(s), median/min of {runs} runs after warm-up, float32, malloc tuning {(malloc ? "on" : "off")}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| case | pass | kernel median ms | min ms | thread-CPU min ms | target ms | GFLOP/s (at min) | GB moved | GB/s | reference median ms |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in Cases)
        {
            using var scope = NewDisposeScope();
            var x = Inputs(c);
            var g = randn(c.Batch, c.Channels, c.Length);
            double flops = SelectiveScan.Flops(c.Batch, c.Length, c.Channels, c.States, withD: true, withZ: c.WithZ);
            long elem = (long)c.Batch * c.Channels * c.Length;
            long bc = 2L * c.Batch * c.Groups * c.States * c.Length;
            // Forward: read u, Δ (+z), B, C; write y.   Backward: read u, Δ (+z), g, B, C; write du, dΔ (+dz), dB, dC.
            double fwdBytes = 4.0 * (elem * (3 + (c.WithZ ? 1 : 0)) + bc);
            double bwdBytes = 4.0 * (elem * (5 + (c.WithZ ? 2 : 0)) + 2 * bc);

            var (fwdMed, fwdMin, fwdCpu) = Time(runs, () => { using var _ = no_grad(); Forward(x, false).Dispose(); });
            double refFwd = reference ? Time(c.Length > 4000 ? 2 : 3, () => { using var _ = no_grad(); Forward(x, true).Dispose(); }, warmup: 1).median : double.NaN;
            Row(c.Name, "fwd", fwdMed, fwdMin, threads == 1 ? fwdCpu : double.NaN, c.TargetFwdMs, flops, fwdBytes, refFwd);

            var (fbMed, fbMin, fbCpu) = Time(runs, () => ForwardBackward(x, g, false));
            double refFb = reference && c.Length <= 4000 ? Time(2, () => ForwardBackward(x, g, true), warmup: 1).median : double.NaN;
            // Backward ≈ 2× the forward's FLOPs (recompute + reverse scan) in this convention.
            Row(c.Name, "fwd+bwd", fbMed, fbMin, threads == 1 ? fbCpu : double.NaN, c.TargetFwdBwdMs, 3 * flops, fwdBytes + bwdBytes, refFb);
        }
        return 0;
    }

    static Tensor?[] Inputs(Case c)
    {
        var u = randn(c.Batch, c.Channels, c.Length);
        var delta = randn(c.Batch, c.Channels, c.Length) * 0.5 - 2;
        var a = -exp(randn(c.Channels, c.States) * 0.5);
        var b = randn(c.Batch, c.Groups, c.States, c.Length);
        var cc = randn(c.Batch, c.Groups, c.States, c.Length);
        var d = ones(c.Channels);
        var z = c.WithZ ? randn(c.Batch, c.Channels, c.Length) : null;
        var bias = rand(c.Channels) * 0.1;
        return [u, delta, a, b, cc, d, z, bias];
    }

    static Tensor Forward(Tensor?[] x, bool reference)
    {
        var args = ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], true);
        var (y, last) = reference ? SelectiveScanReference.Apply(args) : SelectiveScan.ApplyWithLastState(args.U, args.Delta,
            args.A, args.B, args.C, args.D, args.Z, args.DeltaBias, true);
        last.Dispose();
        return y;
    }

    static void ForwardBackward(Tensor?[] x, Tensor g, bool reference)
    {
        using var scope = NewDisposeScope();
        var leaves = x.Select(t => t?.detach().requires_grad_(true)).ToArray();
        var y = Forward(leaves, reference);
        y.backward([g]);
    }

    /// <summary>Wall-clock median and min, and the min of the calling thread's CPU time (immune to preemption on a
    /// shared machine; equals the work done when the kernel runs on one thread).</summary>
    static (double median, double min, double cpuMin) Time(int runs, Action f, int warmup = 5)
    {
        for (int i = 0; i < warmup; i++) f();
        var ms = new double[runs];
        double cpuMin = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            double c0 = ThreadCpuMs();
            long t0 = Stopwatch.GetTimestamp();
            f();
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            cpuMin = Math.Min(cpuMin, ThreadCpuMs() - c0);
        }
        Array.Sort(ms);
        return (ms[runs / 2], ms[0], cpuMin);
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Timespec { public long Seconds, Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec time);

    static double ThreadCpuMs()
    {
        const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID (Linux)
        return ClockGetTime(ClockThreadCpuTime, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : double.NaN;
    }

    static void Row(string name, string pass, double med, double min, double cpu, double target, double flops, double bytes, double refMs) =>
        Console.WriteLine($"| {name} | {pass} | {med:F3} | {min:F3} | {(double.IsNaN(cpu) ? "–" : cpu.ToString("F3"))} | {(double.IsNaN(target) ? "–" : $"≤ {target:F1}")} | " +
                          $"{flops / (min * 1e6):F1} | {bytes / 1e9:F4} | {bytes / (min * 1e6):F1} | {(double.IsNaN(refMs) ? "–" : refMs.ToString("F1"))} |");

    static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
