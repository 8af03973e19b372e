using System.Diagnostics;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>Timing and memory helpers shared by the suites.</summary>
public static class Measure
{
    /// <summary>
    /// When true, <see cref="MedianMs"/> reports process CPU time instead of wall time: on a shared, loaded machine
    /// CPU time with one thread stays close to the quiet-machine wall time, while wall time does not.
    /// </summary>
    public static bool UseCpuTime { get; set; }

    /// <summary>Median wall (or CPU, see <see cref="UseCpuTime"/>) time in ms of <paramref name="action"/> after <paramref name="warmup"/> untimed calls; each call in its own dispose scope.</summary>
    public static double MedianMs(Action action, int warmup = 2, int reps = 5)
    {
        for (int i = 0; i < warmup; i++) Scoped(action);
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            Scoped(action);
            process.Refresh();
            times[i] = UseCpuTime ? (process.TotalProcessorTime - cpu).TotalMilliseconds : sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    static void Scoped(Action action)
    {
        using var scope = NewDisposeScope();
        action();
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct Timespec { public long Seconds, Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec time);

    /// <summary>CPU time of the whole process in ms with nanosecond resolution (CLOCK_PROCESS_CPUTIME_ID; NaN if unavailable).</summary>
    public static double ProcessCpuMs()
    {
        const int ClockProcessCpuTime = 2;
        return ClockGetTime(ClockProcessCpuTime, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : double.NaN;
    }

    /// <summary>Peak resident set size of this process so far (VmHWM), in MiB; NaN where /proc is unavailable.</summary>
    /// <summary>The vector width .NET accelerates in this process: 512-bit unless AVX-512 is missing or switched off
    /// (<c>DOTNET_EnableAVX512=0</c> on .NET 10; the older <c>DOTNET_EnableAVX512F</c> is no longer read).</summary>
    public static string SimdWidth =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "512-bit (AVX-512)"
        : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "256-bit (AVX2)" : "128-bit";

    /// <summary>The settings that cap libtorch's own instruction set (oneDNN, ATen's kernels, MKL), as "name=value"
    /// pairs, or "none": with <c>DOTNET_EnableAVX512=0</c> they make a machine with AVX-512 stand in for an AVX2-only CPU
    /// on both sides of a comparison (BENCHMARKS.md, "The same table on the Zen 5 VM").</summary>
    public static string LibtorchIsaCaps
    {
        get
        {
            var set = new[] { "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS" }
                .Where(n => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(n)))
                .Select(n => $"{n}={Environment.GetEnvironmentVariable(n)}").ToArray();
            return set.Length == 0 ? "none" : string.Join(" ", set);
        }
    }

    public static double PeakRssMiB() => StatusMiB("VmHWM:");

    /// <summary>Current resident set size of this process (VmRSS), in MiB; NaN where /proc is unavailable.</summary>
    public static double RssMiB() => StatusMiB("VmRSS:");

    static double StatusMiB(string field)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { return double.NaN; }
    }

    /// <summary>This process's minor page faults so far (field 10 of /proc/self/stat); 0 where /proc is unavailable.</summary>
    public static long MinorFaults()
    {
        try { return long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], System.Globalization.CultureInfo.InvariantCulture); }
        catch (IOException) { return 0; }
    }

    /// <summary>Value of <c>--name value</c> in <paramref name="args"/>, or the default.</summary>
    public static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
    }

    /// <summary>Value of <c>--name value</c> in <paramref name="args"/>, or the default.</summary>
    public static string StringOption(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>The calling thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID): with one libtorch thread it is the work done,
    /// immune to preemption on a shared machine. NaN where unavailable.</summary>
    public static double ThreadCpuMs()
    {
        const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID (Linux)
        return ClockGetTime(ClockThreadCpuTime, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : double.NaN;
    }

    /// <summary>
    /// Runs the named actions round-robin for <paramref name="rounds"/> rounds (after one warm-up round), each call in
    /// its own dispose scope, and returns per action the min thread-CPU ms and the median and min wall ms. Interleaving
    /// makes A/B comparisons fair under a fluctuating load.
    /// </summary>
    public static (double CpuMin, double WallMedian, double WallMin)[] RoundRobin(int rounds, params Action[] actions)
    {
        foreach (var a in actions) Scoped(a);
        var cpu = actions.Select(_ => double.MaxValue).ToArray();
        var wall = actions.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < actions.Length; i++)
            {
                double c0 = ThreadCpuMs();
                long t0 = Stopwatch.GetTimestamp();
                Scoped(actions[i]);
                wall[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                cpu[i] = Math.Min(cpu[i], ThreadCpuMs() - c0);
            }
        return actions.Select((_, i) => { Array.Sort(wall[i]); return (cpu[i], wall[i][rounds / 2], wall[i][0]); }).ToArray();
    }
}
