using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VisionSsm.Analysis;

/// <summary>One (model, size, batch) point to measure; <paramref name="Width"/> set for a non-square size (ImageSize is then the height).</summary>
public sealed record BenchPoint(string Model, int ImageSize, int Batch, string Runtime = ThroughputResult.TorchSharpRuntime, int? Width = null)
{
    public BenchPoint(string model, BenchSize size, int batch, string runtime = ThroughputResult.TorchSharpRuntime)
        : this(model, size.Height, batch, runtime, size.IsSquare ? null : size.Width) { }

    /// <summary>The input size, height × width.</summary>
    public BenchSize Size => new(ImageSize, Width ?? ImageSize);
}

/// <summary>
/// Runs every point in its own child process and collects the JSON line each child prints, so each point's peak memory
/// is that child's own VmHWM and never a high-water mark left by an earlier point. The child is the caller's program
/// re-invoked (<see cref="Launcher"/>) with a verb that calls <see cref="ThroughputBenchmark.Measure(IBenchWorkload, BenchSize, int)"/> and
/// <see cref="WriteResult"/>; see <c>vssm bench</c>.
/// </summary>
public sealed class IsolatedBenchmark
{
    static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The program and leading arguments that start a child; the point's arguments follow (<see cref="PointArguments"/>).</summary>
    public required (string FileName, IReadOnlyList<string> Arguments) Launcher { get; init; }

    public BenchMode Mode { get; init; } = BenchMode.Inference;
    public double MinSeconds { get; init; } = 2.0;
    /// <summary>Untimed passes before the timed ones (<see cref="ThroughputBenchmark.Warmup"/>).</summary>
    public int Warmup { get; init; } = 2;
    /// <summary>Timed passes at least (<see cref="ThroughputBenchmark.MinIterations"/>).</summary>
    public int MinIterations { get; init; } = 3;
    public int Threads { get; init; } = 1;
    public string Device { get; init; } = "cpu";

    /// <summary>Kills a child that runs longer than this (a stuck or swapping point), reporting the point as failed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Before each point: (index from 1, count, point).</summary>
    public event Action<int, int, BenchPoint>? Starting;
    /// <summary>The child's standard error, line by line (its own log).</summary>
    public event Action<string>? ChildLog;

    /// <summary>The arguments after <see cref="Launcher"/> for one point.</summary>
    public IReadOnlyList<string> PointArguments(BenchPoint p)
    {
        var args = new List<string>
        {
            "--model", p.Model, "--size", p.Size.ToString(),
            "--batch", p.Batch.ToString(CultureInfo.InvariantCulture),
            "--seconds", MinSeconds.ToString("R", CultureInfo.InvariantCulture),
            "--warmup", Warmup.ToString(CultureInfo.InvariantCulture), "--iterations", MinIterations.ToString(CultureInfo.InvariantCulture),
            "--threads", Threads.ToString(CultureInfo.InvariantCulture), "--device", Device,
        };
        if (Mode == BenchMode.Training) args.Add("--train");
        if (p.Runtime != ThroughputResult.TorchSharpRuntime) args.AddRange(["--runtime", p.Runtime]);
        return args;
    }

    /// <summary>Measures the points in order, one child each. With <paramref name="stopOnBadInput"/>, a size a model
    /// cannot take ends the run there (a usage error, not worth the remaining points).</summary>
    public IReadOnlyList<ThroughputResult> Run(IEnumerable<BenchPoint> points, bool stopOnBadInput = true, CancellationToken cancel = default)
    {
        var list = points.ToList();
        var results = new List<ThroughputResult>();
        for (int i = 0; i < list.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            Starting?.Invoke(i + 1, list.Count, list[i]);
            var r = Measure(list[i], cancel);
            results.Add(r);
            if (r.BadInput && stopOnBadInput) break;
        }
        return results;
    }

    /// <summary>Measures one point in a new child process.</summary>
    public ThroughputResult Measure(BenchPoint point, CancellationToken cancel = default)
    {
        var psi = new ProcessStartInfo(Launcher.FileName)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in Launcher.Arguments) psi.ArgumentList.Add(a);
        foreach (var a in PointArguments(point)) psi.ArgumentList.Add(a);
        var stderrTail = new Queue<string>();
        using var child = new Process { StartInfo = psi };
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderrTail)
            {
                stderrTail.Enqueue(e.Data);
                if (stderrTail.Count > 20) stderrTail.Dequeue();
            }
            ChildLog?.Invoke(e.Data);
        };
        try { child.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot start the benchmark child '{psi.FileName}': {e.Message}", e);
        }
        child.StandardInput.Close();
        child.BeginErrorReadLine();
        var stdout = child.StandardOutput.ReadToEndAsync(cancel);
        bool exited;
        try { exited = child.WaitForExit(Timeout); }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);
        }
        cancel.ThrowIfCancellationRequested();
        if (!exited) return Failed(point, $"child did not finish within {Timeout.TotalMinutes:F0} min; killed");
        child.WaitForExit(); // flushes the asynchronous stderr reader
        string output = stdout.GetAwaiter().GetResult();
        var json = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('{'));
        if (json is not null)
        {
            try
            {
                var r = JsonSerializer.Deserialize<ThroughputResult>(json, Json);
                if (r is not null) return r;
            }
            catch (JsonException) { }
        }
        string tail;
        lock (stderrTail) tail = string.Join(" | ", stderrTail.TakeLast(3));
        return Failed(point, $"child exited with code {child.ExitCode}{ExitReason(child.ExitCode)} without a result" + (tail.Length > 0 ? $": {tail}" : ""));
    }

    /// <summary>What a child's exit code says beyond the number: 128 + N is the shell's form of "killed by signal N".</summary>
    public static string ExitReason(int exitCode) => exitCode switch
    {
        134 or -6 => " (SIGABRT: aborted in native code)",
        136 or -8 => " (SIGFPE: an arithmetic fault in native code)",
        137 or -9 => " (SIGKILL: out of memory?)",
        139 or -11 => " (SIGSEGV: a memory fault in native code)",
        > 128 and < 160 => $" (signal {exitCode - 128})",
        _ => "",
    };

    ThroughputResult Failed(BenchPoint p, string error) =>
        new(p.Model, p.ImageSize, p.Batch, Mode, double.NaN, double.NaN, double.NaN, double.NaN, 0, error, Runtime: p.Runtime, Width: p.Width);

    /// <summary>The child's side: the one JSON line the parent reads.</summary>
    public static string WriteResult(ThroughputResult result) => JsonSerializer.Serialize(result, Json);
}
