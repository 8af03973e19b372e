using System.Diagnostics;
using System.Globalization;
using System.Text;
using VisionSsm.Runtime;
using VisionSsm.Models;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>One measured (model, resolution) point: inference images/s, median batch latency and peak memory.</summary>
public sealed record ThroughputResult(string Model, int ImageSize, int Batch, double ImagesPerSecond, double LatencyMs,
    double PeakMemoryMiB, long Parameters, string? Error = null);

/// <summary>
/// Inference throughput, latency and peak memory of zoo models across resolutions, side by side in one process
/// (VMamba Table 4 / Vim Figures 3–4, measured here). Each point: build the model at that size, warm up (the JIT
/// tiers up, docs/architecture.md §6), then time forward passes under no_grad until <see cref="MinSeconds"/> pass.
/// Peak memory is the process's peak RSS above the baseline before the model was built (Linux: VmHWM reset through
/// /proc/self/clear_refs; elsewhere sampled).
/// </summary>
public sealed class ThroughputBenchmark
{
    public int Warmup { get; init; } = 2;
    public int MinIterations { get; init; } = 3;
    public double MinSeconds { get; init; } = 2.0;
    public int InChannels { get; init; } = 3;
    public int NumClasses { get; init; } = 1000;
    public Device? Device { get; init; }

    public event Action<string>? Log;

    public ThroughputResult Measure(string model, int imageSize, int batch)
    {
        var entry = ModelZoo.Get(model);
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected ≥ 1");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected ≥ 1");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = PeakRss.Reset();
        try
        {
            using var scope = NewDisposeScope();
            var net = ModelZoo.Create(entry.Name, new ModelOptions(NumClasses, InChannels, imageSize, 0, Device));
            net.eval();
            long parameters = net.parameters().Sum(p => p.numel());
            var x = randn([batch, InChannels, imageSize, imageSize], device: Device);
            var latencies = new List<double>();
            using (no_grad())
            {
                for (int i = 0; i < Warmup; i++) net.forward(x).Dispose();
                var total = Stopwatch.StartNew();
                while (latencies.Count < MinIterations || total.Elapsed.TotalSeconds < MinSeconds)
                {
                    var sw = Stopwatch.StartNew();
                    using (var s = NewDisposeScope()) net.forward(x);
                    latencies.Add(sw.Elapsed.TotalMilliseconds);
                }
            }
            latencies.Sort();
            double median = latencies[latencies.Count / 2];
            double peak = (PeakRss.Read() - baseline) / (1024.0 * 1024.0);
            net.Dispose();
            var r = new ThroughputResult(entry.Name, imageSize, batch, batch * 1000.0 / median, median, Math.Max(0, peak), parameters);
            Log?.Invoke($"{r.Model} @ {r.ImageSize}: {r.ImagesPerSecond:F2} img/s, {r.LatencyMs:F1} ms, peak +{r.PeakMemoryMiB:F0} MiB");
            return r;
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException or OutOfMemoryException)
        {
            Log?.Invoke($"{entry.Name} @ {imageSize}: failed: {e.Message}");
            return new ThroughputResult(entry.Name, imageSize, batch, double.NaN, double.NaN, double.NaN, 0, e.Message);
        }
    }

    public IReadOnlyList<ThroughputResult> Run(IEnumerable<string> models, IEnumerable<int> sizes, int batch)
    {
        var names = models.ToList();
        foreach (var m in names) ModelZoo.Get(m); // fail fast on unknown names, before any measuring
        var result = new List<ThroughputResult>();
        foreach (int size in sizes)
            foreach (var m in names) result.Add(Measure(m, size, batch));
        return result;
    }

    /// <summary>A Markdown table: one row per (model, size).</summary>
    public static string FormatTable(IReadOnlyList<ThroughputResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | size | batch | img/s | latency (ms) | peak mem (MiB) | params (M) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.ImageSize))
            sb.AppendLine(r.Error is not null
                ? $"| {r.Model} | {r.ImageSize} | {r.Batch} | failed: {r.Error.Split('\n')[0]} | | | |"
                : string.Create(CultureInfo.InvariantCulture,
                    $"| {r.Model} | {r.ImageSize} | {r.Batch} | {r.ImagesPerSecond:F2} | {r.LatencyMs:F1} | {r.PeakMemoryMiB:F0} | {r.Parameters / 1e6:F2} |"));
        return sb.ToString();
    }

    /// <summary>PNG: throughput (solid, left axis) and peak memory (dashed, right axis) against resolution, one colour per model.</summary>
    public static void SavePlot(IReadOnlyList<ThroughputResult> results, string path)
    {
        var plot = new ScottPlot.Plot();
        plot.Title("Inference throughput and peak memory vs resolution");
        plot.XLabel("image size (px)");
        plot.YLabel("images / s");
        plot.Axes.Right.Label.Text = "peak memory (MiB)";
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (var group in results.Where(r => r.Error is null).GroupBy(r => r.Model))
        {
            var pts = group.OrderBy(r => r.ImageSize).ToList();
            double[] xs = pts.Select(r => (double)r.ImageSize).ToArray();
            var color = palette.GetColor(i++);
            var t = plot.Add.Scatter(xs, pts.Select(r => r.ImagesPerSecond).ToArray(), color);
            t.LegendText = $"{group.Key} img/s";
            var m = plot.Add.Scatter(xs, pts.Select(r => r.PeakMemoryMiB).ToArray(), color);
            m.LegendText = $"{group.Key} MiB";
            m.LinePattern = ScottPlot.LinePattern.Dashed;
            m.Axes.YAxis = plot.Axes.Right;
        }
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 1000, 600));
    }
}

/// <summary>The process's peak resident set size (Linux VmHWM), resettable through /proc/self/clear_refs.</summary>
static class PeakRss
{
    /// <summary>Resets the peak to the current RSS (where supported) and returns the current RSS in bytes.</summary>
    public static long Reset()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Environment.WorkingSet;
    }

    public static long Read()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
