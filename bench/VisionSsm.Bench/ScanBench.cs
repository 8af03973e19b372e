using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `scan`: the selective-scan speed table (BENCHMARKS.md "Selective scan") — CPU kernel forward and forward+backward, the reference twin
/// on the same cases, FLOP rate (VMamba's 9·B·L·D·N convention) and bytes moved against the machine ceiling
/// (BENCHMARKS.md, "Machines": ~135 GFLOP/s f32 matmul on 2 threads; `--detail` measures the streaming ceiling itself, ~40 GB/s
/// per core — libtorch's ~11 GB/s `add` is not the machine's limit).
/// Also the vGamba stage-3 cell (N = 64, batch 1 and 8) without a target.
/// Options: --threads N (default 2), --runs N (default 20), --case TEXT (only the cases whose name contains it), --no-reference, --detail (kernel alone vs the lane kernel
/// and a streaming pass moving the same bytes), --no-malloc-tuning (by default, as the
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
        // One direction of a Vim-S layer in a training shard (batch 8 on two one-thread workers).
        new("Vim-S layer (B4 D768 N16 L197 G1 z)", 4, 768, 16, 197, 1, true, double.NaN, double.NaN),
        new("VMamba-T stage 1 (B1 D384=4x96 N1 L3136)", 1, 384, 1, 3136, 4, false, 1.5, 6.0),
        new("VMamba 512 px (B1 D384=4x96 N1 L16384)", 1, 384, 1, 16384, 4, false, 8.0, double.NaN),
        // VMamba-T stage 3 at batch 8: rows of 196 = 6·32 + 4 steps end in a partial block (the row kernel's masked tail).
        new("VMamba-T stage 3 (B8 D1536=4x384 N1 L196)", 8, 1536, 1, 196, 4, false, double.NaN, double.NaN),
        // One thread's shard of a batch-8 training step (data-parallel, 2 threads): stages 2 and 3.
        new("VMamba-T shard stage 2 (B4 D768=4x192 N1 L784)", 4, 768, 1, 784, 4, false, double.NaN, double.NaN),
        new("VMamba-T shard stage 3 (B4 D1536=4x384 N1 L196)", 4, 1536, 1, 196, 4, false, double.NaN, double.NaN),
        // vmamba_nano in one shard of the default training step (batch 96 on two workers): the 7² and 2² stages, rows
        // shorter than a transpose tile or ending in one.
        new("VMamba-nano shard stage 2 (B48 D256=4x64 N1 L49)", 48, 256, 1, 49, 4, false, double.NaN, double.NaN),
        new("VMamba-nano shard stage 4 (B48 D1024=4x256 N1 L4)", 48, 1024, 1, 4, 4, false, double.NaN, double.NaN),
        // vGamba stage-3 Gamba cell: d_inner 256, d_state 64, 28×28 tokens; no target of its own.
        new("vGamba stage-3 cell (B1 D256 N64 L784 G1 z)", 1, 256, 64, 784, 1, true, double.NaN, double.NaN),
        new("vGamba stage-3 cell (B8 D256 N64 L784 G1 z)", 8, 256, 64, 784, 1, true, double.NaN, double.NaN),
    ];

    public static void RegisterSuite() =>
        Suites.Register("scan", "selective scan: CPU kernel vs reference twin (BENCHMARKS.md, Selective scan)", Run);

    static int Run(string[] args)
    {
        int threads = Option(args, "--threads", 2);
        int runs = Math.Max(10, Option(args, "--runs", 20));
        bool wantReference = !args.Contains("--no-reference"), reference;
        bool malloc = !args.Contains("--no-malloc-tuning") && MallocTuning.KeepLargeBlocksInHeap();
        TorchRuntime.SetThreads(threads);
        Console.WriteLine($"## Selective scan — {threads} thread(s), median/min of {runs} runs after warm-up, float32, .NET SIMD {Measure.SimdWidth}, malloc tuning {(malloc ? "on" : "off")}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        Console.WriteLine();
        var cases = Selected(args);
        Console.WriteLine("| case | pass | kernel median ms | min ms | thread-CPU min ms | target ms | GFLOP/s (at min) | GB moved | GB/s | reference median ms |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in cases)
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
            reference = wantReference && (double)c.Batch * c.Channels * c.States * c.Length <= 5e7;   // the reference on vGamba B8 takes minutes
            double refFwd = reference ? Time(c.Length > 4000 ? 2 : 3, () => { using var _ = no_grad(); Forward(x, true).Dispose(); }, warmup: 1).median : double.NaN;
            Row(c.Name, "fwd", fwdMed, fwdMin, threads == 1 ? fwdCpu : double.NaN, c.TargetFwdMs, flops, fwdBytes, refFwd);

            var (fbMed, fbMin, fbCpu) = Time(runs, () => ForwardBackward(x, g, false));
            double refFb = reference && c.Length <= 4000 ? Time(2, () => ForwardBackward(x, g, true), warmup: 1).median : double.NaN;
            // Backward ≈ 2× the forward's FLOPs (recompute + reverse scan) in this convention.
            Row(c.Name, "fwd+bwd", fbMed, fbMin, threads == 1 ? fbCpu : double.NaN, c.TargetFwdBwdMs, 3 * flops, fwdBytes + bwdBytes, refFb);
        }
        if (args.Contains("--detail")) Detail(runs, cases);
        return 0;
    }

    /// <summary>
    /// `--detail`: for each case, the kernel's forward and backward alone (no autograd) on the path the dispatch
    /// picks and, interleaved rep by rep, on the lane kernel (<see cref="Runtime.KernelOptions.ScanRowKernel"/> off), next to the
    /// streaming ceiling: a plain SIMD pass over the same buffers that moves the same bytes (forward: read u, Δ,
    /// write y; backward: read u, Δ, g, write du, dΔ) with the same thread split.
    /// </summary>
    static void Detail(int runs, Case[] cases)
    {
        Console.WriteLine();
        Console.WriteLine("| case | pass | dispatch median (min) ms | lane kernel median (min) ms | streaming pass median (min) ms | dispatch GB/s at min | ceiling GB/s at min |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var c in cases)
        {
            using var scope = NewDisposeScope();
            var x = Inputs(c);
            var g = randn(c.Batch, c.Channels, c.Length);
            var a = ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], true);
            bool rows = ScanRowKernel.Applies(a);
            var fwd = new List<double>[3] { [], [], [] };
            var bwd = new List<double>[3] { [], [], [] };
            var (_, _, saved) = SelectiveScanCpu.Forward(a, saveStates: true, rows);
            var (_, _, savedLane) = SelectiveScanCpu.Forward(a, saveStates: true, false);
            for (int i = 0; i < runs + 5; i++)
            {
                bool keep = i >= 5;
                Timed(keep ? fwd[0] : null, () => { using var s = NewDisposeScope(); SelectiveScanCpu.Forward(a, false, rows); });
                Timed(keep ? fwd[1] : null, () => { using var s = NewDisposeScope(); SelectiveScanCpu.Forward(a, false, false); });
                Timed(keep ? fwd[2] : null, () => { using var s = NewDisposeScope(); StreamingPass([a.U, a.Delta], 1); });
                Timed(keep ? bwd[0] : null, () => { using var s = NewDisposeScope(); SelectiveScanCpu.Backward(a, saved, g, rows); });
                Timed(keep ? bwd[1] : null, () => { using var s = NewDisposeScope(); SelectiveScanCpu.Backward(a, savedLane, g, false); });
                Timed(keep ? bwd[2] : null, () => { using var s = NewDisposeScope(); StreamingPass([a.U, a.Delta, g], 2); });
            }
            long elem = (long)c.Batch * c.Channels * c.Length;
            DetailRow(c.Name, "fwd" + (rows ? " (row kernel)" : ""), fwd, 4.0 * elem * (3 + (c.WithZ ? 1 : 0)), 4.0 * elem * 3);
            DetailRow(c.Name, "bwd" + (rows ? " (row kernel)" : ""), bwd, 4.0 * elem * (5 + (c.WithZ ? 2 : 0)), 4.0 * elem * 5);
        }
    }

    static void Timed(List<double>? into, Action f)
    {
        long t0 = Stopwatch.GetTimestamp();
        f();
        into?.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    static void DetailRow(string name, string pass, List<double>[] t, double kernelBytes, double ceilingBytes)
    {
        string F(List<double> v) { v.Sort(); return $"{v[v.Count / 2]:F3} ({v[0]:F3})"; }
        Console.WriteLine($"| {name} | {pass} | {F(t[0])} | {F(t[1])} | {F(t[2])} | {kernelBytes / (t[0][0] * 1e6):F1} | {ceilingBytes / (t[2][0] * 1e6):F1} |");
    }

    /// <summary>Reads every input row once and writes <paramref name="outputs"/> rows of the same shape (their sum),
    /// split over the kernel's threads like the row kernel; outputs ≥ the streaming threshold use non-temporal stores.</summary>
    static unsafe void StreamingPass(Tensor[] inputs, int outputs)
    {
        var outs = Enumerable.Range(0, outputs).Select(_ => empty_like(inputs[0])).ToArray();
        nint[] ip = inputs.Select(t => (nint)SelectiveScanCpu.Ptr<float>(t)).ToArray(), op = outs.Select(t => (nint)SelectiveScanCpu.Ptr<float>(t)).ToArray();
        long n = inputs[0].numel(), parts = 16, per = (n / parts + 15) / 16 * 16;
        bool stream = n * sizeof(float) >= SelectiveScanCpu.StreamingBytes;
        Parallel.For(0, parts, TorchRuntime.KernelParallelism, p =>
        {
            long i0 = p * per, i1 = Math.Min(n, i0 + per);
            for (long i = i0; i + 16 <= i1; i += 16)
            {
                var v = Vector512.Load((float*)ip[0] + i);
                for (int k = 1; k < ip.Length; k++) v += Vector512.Load((float*)ip[k] + i);
                foreach (var o in op)
                    if (stream) Vector512.StoreAlignedNonTemporal(v, (float*)o + i);
                    else Vector512.Store(v, (float*)o + i);
            }
        });
    }

    static Tensor?[] Inputs(Case c) => Inputs(c.Batch, c.Channels, c.States, c.Length, c.Groups, c.WithZ);

    /// <summary>Scan arguments [u, Δ, A, B, C, D, z, Δ bias] of one shape, values in the ranges trained layers show.</summary>
    internal static Tensor?[] Inputs(int batch, int channels, int states, int length, int groups, bool withZ)
    {
        var u = randn(batch, channels, length);
        var delta = randn(batch, channels, length) * 0.5 - 2;
        var a = -exp(randn(channels, states) * 0.5);
        var b = randn(batch, groups, states, length);
        var cc = randn(batch, groups, states, length);
        var d = ones(channels);
        var z = withZ ? randn(batch, channels, length) : null;
        var bias = rand(channels) * 0.1;
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

    /// <summary>The cases whose name contains the text after `--case` (all without it).</summary>
    static Case[] Selected(string[] args)
    {
        string? only = args.SkipWhile(a => a != "--case").Skip(1).FirstOrDefault();
        return [.. Cases.Where(c => only is null || c.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
    }

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
