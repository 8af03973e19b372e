using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>What a benchmark point times: a no_grad forward, or a full training step.</summary>
public enum BenchMode
{
    /// <summary>Forward pass under no_grad, eval mode.</summary>
    Inference,
    /// <summary>Forward + cross-entropy loss + backward + AdamW step, train mode (VMamba Table 4's training throughput).</summary>
    Training,
}

/// <summary>
/// One measured (model, resolution, batch) point. <see cref="PeakRssMiB"/> is the peak resident set of the process that
/// measured it (Linux VmHWM); <see cref="PeakOverModelMiB"/> is that peak during the timed passes minus the resident set
/// right after the model (and, for training, the optimizer) was built: activations, gradients, optimizer state, workspace.
/// </summary>
/// <param name="Runtime">what ran the model: <see cref="TorchSharpRuntime"/> (our forward) or "onnxruntime" (its ONNX export)</param>
/// <param name="ImageSize">the input side; its height when <paramref name="Width"/> is set</param>
/// <param name="Note">runtime-specific facts, e.g. an export's node count and parity error</param>
/// <param name="Width">the input width of a non-square point (null: square, <paramref name="ImageSize"/>²)</param>
public sealed record ThroughputResult(string Model, int ImageSize, int Batch, BenchMode Mode, double ImagesPerSecond, double LatencyMs,
    double PeakRssMiB, double PeakOverModelMiB, long Parameters, string? Error = null, bool BadInput = false,
    string Runtime = ThroughputResult.TorchSharpRuntime, string? Note = null, int? Width = null)
{
    public const string TorchSharpRuntime = "torchsharp";

    /// <summary>The input size, height × width.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public BenchSize Size => new(ImageSize, Width ?? ImageSize);
}

/// <summary>
/// Throughput, latency and peak memory of one model at one input size and batch (VMamba Table 4 / Vim Fig. 1,
/// measured here) — a classification, segmentation or detection model, whatever its <see cref="IBenchWorkload"/> runs.
/// Build the model, warm up (the JIT tiers up), then time passes until <see cref="MinSeconds"/> pass.
/// Peak memory is only meaningful when this process measures nothing else: <see cref="IsolatedBenchmark"/> runs each
/// point in its own child process, because glibc and libtorch keep freed memory resident, so a second point in one
/// process reuses the first one's pages and shows no growth.
/// </summary>
public sealed class ThroughputBenchmark
{
    public int Warmup { get; init; } = 2;
    public int MinIterations { get; init; } = 3;
    public double MinSeconds { get; init; } = 2.0;
    public int InChannels { get; init; } = 3;
    public int NumClasses { get; init; } = 1000;
    public BenchMode Mode { get; init; } = BenchMode.Inference;
    public Device? Device { get; init; }

    public event Action<string>? Log;

    /// <summary>Measures one classification point in this process (<see cref="ClassificationWorkload"/> with
    /// <see cref="NumClasses"/> classes). A size the model cannot take is reported with <c>BadInput</c> set.</summary>
    public ThroughputResult Measure(string model, int imageSize, int batch)
    {
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected ≥ 1");
        return Measure(new ClassificationWorkload(model, NumClasses), new BenchSize(imageSize), batch);
    }

    /// <summary>
    /// Measures one point of any task's <paramref name="workload"/> in this process: build the model, run one batch-1
    /// inference (a size the model cannot take is reported with <c>BadInput</c> set), warm up, then time
    /// <see cref="Mode"/> passes — the workload's inference under no_grad in eval mode, or its training loss + backward +
    /// AdamW step in train mode.
    /// </summary>
    public ThroughputResult Measure(IBenchWorkload workload, BenchSize size, int batch)
    {
        ArgumentNullException.ThrowIfNull(workload);
        if (size.Height < 1 || size.Width < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "expected sides ≥ 1");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected ≥ 1");
        string name = workload.Model;
        using var scope = NewDisposeScope();
        TorchSharp.torch.nn.Module net;
        long parameters;
        try
        {
            net = workload.Build(size, InChannels, Device);
            parameters = net.parameters().Sum(p => p.numel());
            using (no_grad())
            {
                net.eval();
                using var probe = zeros([1, InChannels, size.Height, size.Width], device: Device);
                workload.Infer(net, probe);
            }
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException)
        {
            string message = $"model '{name}' cannot take {InChannels}×{size.Height}×{size.Width} input " +
                             $"(its default size is {workload.DefaultImageSize}): {e.Message.Split('\n')[0]}";
            Log?.Invoke(message);
            return Failed(name, size, batch, message, badInput: true);
        }
        try
        {
            var x = randn([batch, InChannels, size.Height, size.Width], device: Device);
            TorchSharp.Modules.AdamW? optimizer = null;
            Func<Tensor>? loss = null;
            if (Mode == BenchMode.Training)
            {
                net.train();
                optimizer = optim.AdamW(net.parameters(), lr: 1e-4, weight_decay: 0.05);
                loss = workload.TrainingLoss(net, x);
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long constructionPeak = ProcessMemory.PeakRss();
            long baseline = ProcessMemory.ResetPeak();
            void Pass()
            {
                using var s = NewDisposeScope();
                if (optimizer is null)
                {
                    using var _ = no_grad();
                    workload.Infer(net, x);
                    return;
                }
                optimizer.zero_grad();
                loss!().backward();
                optimizer.step();
            }
            var latencies = new List<double>();
            for (int i = 0; i < Warmup; i++) Pass();
            var total = Stopwatch.StartNew();
            while (latencies.Count < MinIterations || total.Elapsed.TotalSeconds < MinSeconds)
            {
                var sw = Stopwatch.StartNew();
                Pass();
                latencies.Add(sw.Elapsed.TotalMilliseconds);
            }
            long runPeak = ProcessMemory.PeakRss();
            latencies.Sort();
            double median = latencies[latencies.Count / 2];
            const double MiB = 1024.0 * 1024.0;
            var r = new ThroughputResult(name, size.Height, batch, Mode, batch * 1000.0 / median, median,
                Math.Max(constructionPeak, runPeak) / MiB, Math.Max(0, runPeak - baseline) / MiB, parameters, Width: WidthOf(size));
            Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model} @ {r.Size} ×{r.Batch}: {r.ImagesPerSecond:F2} img/s, {r.LatencyMs:F1} ms, peak RSS {r.PeakRssMiB:F0} MiB (+{r.PeakOverModelMiB:F0} over model)"));
            return r;
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException or OutOfMemoryException)
        {
            Log?.Invoke($"{name} @ {size}: failed: {e.Message}");
            return Failed(name, size, batch, e.Message.Split('\n')[0]);
        }
        finally { net.Dispose(); }
    }

    /// <summary>The result's <see cref="ThroughputResult.Width"/>: null for a square size (results read as before).</summary>
    static int? WidthOf(BenchSize size) => size.IsSquare ? null : size.Width;

    ThroughputResult Failed(string model, BenchSize size, int batch, string error, bool badInput = false) =>
        new(model, size.Height, batch, Mode, double.NaN, double.NaN, double.NaN, double.NaN, 0, error, badInput, Width: WidthOf(size));

    /// <summary>A Markdown table: one row per (model, size, batch).</summary>
    public static string FormatTable(IReadOnlyList<ThroughputResult> results)
    {
        var sb = new StringBuilder();
        if (results.Any(r => r.Runtime != ThroughputResult.TorchSharpRuntime)) return FormatRuntimeTable(results);
        sb.AppendLine("| model | size | batch | mode | img/s | latency (ms) | peak RSS (MiB) | peak over model (MiB) | params (M) |");
        sb.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var r in results.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Size.Pixels).ThenBy(r => r.ImageSize).ThenBy(r => r.Batch))
        {
            string mode = r.Mode == BenchMode.Training ? "train" : "infer";
            sb.AppendLine(r.Error is not null
                ? $"| {r.Model} | {r.Size} | {r.Batch} | {mode} | failed: {r.Error.Split('\n')[0].Replace('|', '/')} | | | | |"
                : string.Create(CultureInfo.InvariantCulture,
                    $"| {r.Model} | {r.Size} | {r.Batch} | {mode} | {r.ImagesPerSecond:F2} | {r.LatencyMs:F1} | {r.PeakRssMiB:F0} | {r.PeakOverModelMiB:F0} | {r.Parameters / 1e6:F2} |"));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The side-by-side table of several runtimes: one row per (model, size, batch, runtime), each row's throughput as a
    /// ratio to our runtime's at the same point, and the runtime's note (an export's nodes and parity error).
    /// </summary>
    public static string FormatRuntimeTable(IReadOnlyList<ThroughputResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | size | batch | runtime | img/s | latency (ms) | vs torchsharp | peak RSS (MiB) | notes |");
        sb.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---|");
        foreach (var r in results.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Size.Pixels).ThenBy(r => r.ImageSize).ThenBy(r => r.Batch)
                     .ThenBy(r => r.Runtime == ThroughputResult.TorchSharpRuntime ? 0 : 1))
        {
            var ours = results.FirstOrDefault(o => o.Runtime == ThroughputResult.TorchSharpRuntime && o.Error is null
                                                   && (o.Model, o.Size, o.Batch) == (r.Model, r.Size, r.Batch));
            string ratio = ours is null || r.Error is not null ? "" : string.Create(CultureInfo.InvariantCulture, $"{r.ImagesPerSecond / ours.ImagesPerSecond:F2}×");
            sb.AppendLine(r.Error is not null
                ? $"| {r.Model} | {r.Size} | {r.Batch} | {r.Runtime} | failed: {r.Error.Split('\n')[0].Replace('|', '/')} | | | | |"
                : string.Create(CultureInfo.InvariantCulture,
                    $"| {r.Model} | {r.Size} | {r.Batch} | {r.Runtime} | {r.ImagesPerSecond:F2} | {r.LatencyMs:F1} | {ratio} | {r.PeakRssMiB:F0} | {r.Note} |"));
        }
        return sb.ToString();
    }

    /// <summary>
    /// PNG in the papers' layout (VMamba Table 4 / Vim Fig. 1): two panels against resolution, images/s (left) and
    /// peak RSS (right), log–log so a model whose cost grows quadratically in tokens shows a steeper slope than a
    /// linear one. One line per model (and per batch when several were measured). A non-square size H×W sits at
    /// √(H·W), the side of a square with as many pixels, and its tick reads HxW.
    /// </summary>
    public static void SavePlot(IReadOnlyList<ThroughputResult> results, string path)
    {
        var ok = results.Where(r => r.Error is null && r.ImagesPerSecond > 0 && r.PeakRssMiB > 0).ToList();
        bool severalBatches = ok.Select(r => r.Batch).Distinct().Count() > 1;
        string mode = results.Any(r => r.Mode == BenchMode.Training) ? "training" : "inference";
        var multi = new ScottPlot.Multiplot();
        ScottPlot.IMultiplotExtensions.AddPlots(multi, 2);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        var (speed, memory) = (ScottPlot.IMultiplotExtensions.GetPlot(multi, 0), ScottPlot.IMultiplotExtensions.GetPlot(multi, 1));
        speed.Title($"{mode} throughput");
        speed.YLabel("images / s (log)");
        memory.Title($"{mode} peak memory");
        memory.YLabel("peak RSS, MiB (log)");
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        bool severalRuntimes = ok.Select(r => r.Runtime).Distinct().Count() > 1;
        foreach (var group in ok.GroupBy(r => (r.Model, r.Batch, r.Runtime)).OrderBy(g => g.Key.Model, StringComparer.Ordinal).ThenBy(g => g.Key.Batch)
                     .ThenBy(g => g.Key.Runtime, StringComparer.Ordinal))
        {
            var pts = group.OrderBy(r => r.Size.Pixels).ToList();
            double[] xs = pts.Select(r => Math.Log10(r.Size.EquivalentSide)).ToArray();
            var color = palette.GetColor(i++);
            string label = (severalBatches ? $"{group.Key.Model} ×{group.Key.Batch}" : group.Key.Model) + (severalRuntimes ? $" ({group.Key.Runtime})" : "");
            var t = speed.Add.Scatter(xs, pts.Select(r => Math.Log10(r.ImagesPerSecond)).ToArray(), color);
            t.LegendText = label;
            var m = memory.Add.Scatter(xs, pts.Select(r => Math.Log10(r.PeakRssMiB)).ToArray(), color);
            m.LegendText = label;
        }
        var sizes = ok.Select(r => r.Size).Distinct().OrderBy(z => z.Pixels).ToArray();
        // Throughput falls and memory rises with resolution: legends in the corners the lines leave free.
        foreach (var (plot, values, corner) in new[] { (speed, ok.Select(r => r.ImagesPerSecond), ScottPlot.Alignment.LowerLeft),
                                                       (memory, ok.Select(r => r.PeakRssMiB), ScottPlot.Alignment.UpperLeft) })
        {
            plot.XLabel(sizes.All(z => z.IsSquare) ? "image size, px (log)" : "image size, px (log of √(H·W))");
            plot.Axes.Bottom.TickGenerator = SizeTicks(sizes);
            plot.Axes.Left.TickGenerator = LogTicks(values.ToArray());
            plot.ShowLegend(corner);
        }
        AtomicFile.WriteVia(path, temp => ScottPlot.IMultiplotExtensions.SavePng(multi, temp, 1400, 600));
    }

    /// <summary>One tick per measured size at √(H·W) (the side itself when square), labelled N or HxW.</summary>
    static ScottPlot.TickGenerators.NumericManual SizeTicks(BenchSize[] sizes)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var s in sizes) ticks.AddMajor(Math.Log10(s.EquivalentSide), s.ToString());
        return ticks;
    }

    /// <summary>
    /// Ticks at 1, 1.5, 2, 3, 5, 7 × 10^k over the data's range, labelled with the value (the axis holds log10); when a
    /// panel spans too little of a decade for three of those (memory often does), finer mantissas step in.
    /// </summary>
    static ScottPlot.TickGenerators.NumericManual LogTicks(double[] values)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        if (values.Length == 0) return ticks;
        double min = values.Min(), max = values.Max();
        int lo = (int)Math.Floor(Math.Log10(min)), hi = (int)Math.Ceiling(Math.Log10(max));
        double[][] mantissas =
        [
            [1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
            Enumerable.Range(2, 18).Select(i => i / 2.0).ToArray(),     // 1, 1.5, …, 9.5
            Enumerable.Range(10, 90).Select(i => i / 10.0).ToArray(),   // 1.0, 1.1, …, 9.9
        ];
        List<double> chosen = [];
        foreach (var set in mantissas)
        {
            chosen = Enumerable.Range(lo, hi - lo + 1).SelectMany(k => set.Select(m => m * Math.Pow(10, k)))
                .Where(v => v >= min / 2 && v <= max * 2).ToList();
            if (chosen.Count(v => v >= min && v <= max) >= 3) break;
        }
        foreach (double v in chosen) ticks.AddMajor(Math.Log10(v), v.ToString("#,0.##", CultureInfo.InvariantCulture));
        return ticks;
    }
}

/// <summary>The process's resident memory from /proc/self/status (Linux); elsewhere the runtime's working-set figures.</summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set size in bytes (VmHWM).</summary>
    public static long PeakRss() => StatusField("VmHWM:") ?? Process.GetCurrentProcess().PeakWorkingSet64;

    /// <summary>Current resident set size in bytes (VmRSS).</summary>
    public static long Rss() => StatusField("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>Resets the peak to the current RSS where the kernel allows it ("5" to clear_refs, proc(5)); returns the current RSS.</summary>
    public static long ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Rss();
    }

    static long? StatusField(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return null;
    }
}
