using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using VisionSsm.Analysis;
using VisionSsm.Detection.Models;
using VisionSsm.Detection.Training;
using VisionSsm.Export;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Models;
using VisionSsm.Segmentation.Training;

namespace VisionSsm.Cli;

/// <summary>
/// `vssm bench`: images/s, latency and peak memory of several models across resolutions and batches, each point in its
/// own child process (this program re-invoked with the hidden verb <see cref="PointVerb"/>), so every point's peak
/// memory is its own. Models come from the classification, segmentation or detection zoo (<see cref="Workload"/>).
/// </summary>
static class BenchCommand
{
    /// <summary>The hidden verb a child runs: measures one point and prints it as one JSON line on stdout.</summary>
    public const string PointVerb = "__bench-point";

    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("bench", "Measure throughput, latency and peak memory vs resolution, one child process per point; writes a table and a two-panel PNG plot.");
        var models = new Option<string>("--models") { Description = "comma-separated names from the classification, segmentation (upernet_*) or detection (maskrcnn_*) zoo", Required = true };
        var sizes = new Option<string>("--sizes") { Description = "comma-separated input sizes, N (square) or HxW, e.g. 512,512x2048", DefaultValueFactory = _ => "224" };
        var batch = new Option<string>("--batch") { Description = "batch size, or comma-separated batch sizes", DefaultValueFactory = _ => "1" };
        var seconds = new Option<double>("--seconds") { Description = "minimum timed seconds per point", DefaultValueFactory = _ => 2.0 };
        var train = new Option<bool>("--train") { Description = "time a training step (forward + the task's loss on synthetic targets + backward + AdamW step) instead of inference" };
        var plot = new Option<string>("--plot") { Description = "PNG path (default runs/bench-<time>.png)" };
        var runtime = new Option<string>("--runtime")
        {
            Description = "comma-separated runtimes measured side by side, each point in its own child: torchsharp (ours), onnxruntime (our ONNX export in ONNX Runtime, same thread count)",
            DefaultValueFactory = _ => ThroughputResult.TorchSharpRuntime,
        };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { models, sizes, batch, seconds, train, plot, runtime }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var names = p.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0) throw new ArgumentException("--models: expected at least one model name.", "models");
            names = names.Select(n => Workload(n).Model).Distinct().ToArray(); // unknown names fail here, before any child
            var sz = BenchSize.ParseList(p.GetValue(sizes)!);
            var batches = CommonOptions.ParseInts(p.GetValue(batch)!, "--batch");
            if (batches.Length == 0 || batches.Any(b => b < 1)) throw new ArgumentException($"--batch '{p.GetValue(batch)}': expected batch sizes ≥ 1.", "batch");
            double secs = p.GetValue(seconds);
            if (!(secs > 0)) throw new ArgumentException($"--seconds {secs}: expected a positive number of seconds.", "seconds");
            CommonOptions.Apply(p, threads, device); // validates --threads and --device here, once, with the usual messages
            var mode = p.GetValue(train) ? BenchMode.Training : BenchMode.Inference;
            var bench = new IsolatedBenchmark
            {
                Launcher = SelfLauncher(), Mode = mode, MinSeconds = secs, Threads = TorchRuntime.Threads, Device = p.GetValue(device)!,
            };
            var runtimes = ParseRuntimes(p.GetValue(runtime)!);
            if (mode == BenchMode.Training && runtimes.Any(r => r != ThroughputResult.TorchSharpRuntime))
                throw new ArgumentException("--runtime onnxruntime measures inference only; drop --train.", "runtime");
            if (runtimes.Any(r => r != ThroughputResult.TorchSharpRuntime))
            {
                if (names.FirstOrDefault(n => Workload(n) is not ClassificationWorkload) is { } dense)
                    throw new ArgumentException($"--runtime onnxruntime measures classification models only; '{dense}' is not one.", "runtime");
                if (sz.FirstOrDefault(s => !s.IsSquare) is { Height: > 0 } rect)
                    throw new ArgumentException($"--runtime onnxruntime measures square sizes only; got {rect}.", "runtime");
            }
            // Runtimes interleaved per (size, batch, model), so a load from other processes hits both alike.
            var points = (from s in sz from b in batches from m in names from r in runtimes select new BenchPoint(m, s, b, r)).ToList();
            ctx.Error.WriteLine($"threads {TorchRuntime.Threads}, float32, {(mode == BenchMode.Training ? "training step (AdamW)" : "inference")}, " +
                                $"{points.Count} point(s), one child process each");
            var clock = Stopwatch.StartNew();
            bench.Starting += (i, n, pt) =>
            {
                string eta = i > 1 ? $", ~{clock.Elapsed.TotalSeconds / (i - 1) * (n - i + 1):F0} s left" : "";
                ctx.Error.WriteLine($"[{i}/{n}] {pt.Model} @ {pt.Size} ×{pt.Batch} ({pt.Runtime})… ({clock.Elapsed.TotalSeconds:F0} s elapsed{eta})");
            };
            bench.ChildLog += line => ctx.Error.WriteLine("    " + line);
            var results = bench.Run(points, stopOnBadInput: true, ctx.Cancellation);
            var bad = results.FirstOrDefault(r => r.BadInput);
            if (bad is not null) throw new ArgumentException($"--sizes: {bad.Error}", "sizes");
            ctx.Out.Write(ThroughputBenchmark.FormatTable(results));
            ctx.Out.WriteLine("peak RSS: the child's VmHWM (whole process); peak over model: VmHWM during the timed passes minus RSS after the model" +
                              (mode == BenchMode.Training ? " and optimizer were built (optimizer state counts)." : " was built."));
            string png = p.GetValue(plot) ?? Path.Combine("runs", $"bench-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
            ThroughputBenchmark.SavePlot(results, png);
            ctx.Out.WriteLine($"plot: {png}");
            foreach (var r in results.Where(r => r.Error is not null)) ctx.Error.WriteLine($"error: {r.Model} @ {r.Size} ×{r.Batch}: {r.Error}");
            return results.All(r => r.Error is null) ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>The child's verb: one point, measured in this process, printed as one JSON line.</summary>
    public static Command CreatePointVerb(CliContext ctx)
    {
        var cmd = new Command(PointVerb, "internal: measure one benchmark point in this process and print it as JSON") { Hidden = true };
        var model = new Option<string>("--model") { Required = true };
        var size = new Option<string>("--size") { Required = true };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 1 };
        var seconds = new Option<double>("--seconds") { DefaultValueFactory = _ => 2.0 };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 2 };
        var iterations = new Option<int>("--iterations") { DefaultValueFactory = _ => 3 };
        var train = new Option<bool>("--train");
        var runtime = new Option<string>("--runtime") { DefaultValueFactory = _ => ThroughputResult.TorchSharpRuntime };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, size, batch, seconds, warmup, iterations, train, runtime }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            var sz = BenchSize.TryParse(p.GetValue(size)!)
                     ?? throw new ArgumentException($"--size '{p.GetValue(size)}': expected N or HxW, positive integers.", "size");
            if (p.GetValue(runtime) == OnnxThroughput.RuntimeName)
            {
                if (!sz.IsSquare) throw new ArgumentException($"--size {sz}: onnxruntime measures square sizes only.", "size");
                var ort = new OnnxThroughput { MinSeconds = p.GetValue(seconds) };
                ort.Log += m => ctx.Error.WriteLine(m);
                var o = ort.Measure(p.GetValue(model)!, sz.Height, p.GetValue(batch));
                ctx.Out.WriteLine(IsolatedBenchmark.WriteResult(o));
                return o.Error is null ? 0 : 1;
            }
            var bench = new ThroughputBenchmark
            {
                MinSeconds = p.GetValue(seconds), Device = dev, Mode = p.GetValue(train) ? BenchMode.Training : BenchMode.Inference,
                Warmup = Math.Max(0, p.GetValue(warmup)), MinIterations = Math.Max(1, p.GetValue(iterations)),
            };
            bench.Log += m => ctx.Error.WriteLine(m);
            var r = bench.Measure(Workload(p.GetValue(model)!), sz, p.GetValue(batch));
            ctx.Out.WriteLine(IsolatedBenchmark.WriteResult(r));
            return r.Error is null ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>
    /// The benchmark workload of a zoo name: classification (<see cref="ModelZoo"/>), segmentation
    /// (<see cref="SegmentationZoo"/>) or detection (<see cref="DetectionZoo"/>); an unknown name is an error naming it.
    /// </summary>
    internal static IBenchWorkload Workload(string name)
    {
        if (ModelZoo.Names.Contains(name, StringComparer.Ordinal)) return new ClassificationWorkload(name);
        if (SegmentationZoo.Names.Contains(name, StringComparer.Ordinal)) return new SegmentationBenchWorkload(name);
        if (DetectionZoo.Names.Contains(name, StringComparer.Ordinal)) return new DetectionBenchWorkload(name);
        throw new ArgumentException($"Unknown model '{name}' in --models; expected a classification zoo name (`vssm models`), a segmentation one " +
                                    $"({string.Join(", ", SegmentationZoo.Names)}) or a detection one ({string.Join(", ", DetectionZoo.Names)}).", "models");
    }

    static string[] ParseRuntimes(string text)
    {
        var list = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r => r.ToLowerInvariant()).Distinct().ToArray();
        var bad = list.FirstOrDefault(r => r is not (ThroughputResult.TorchSharpRuntime or OnnxThroughput.RuntimeName));
        if (list.Length == 0 || bad is not null)
            throw new ArgumentException($"--runtime '{text}': expected torchsharp, onnxruntime or both (comma-separated).", "runtime");
        return list;
    }

    /// <summary>How to start this program's point verb: through the apphost (`vssm`, a tool shim) as is, else
    /// `dotnet vssm.dll` (also when the CLI runs inside another host, e.g. the test runner).</summary>
    internal static (string, IReadOnlyList<string>) SelfLauncher()
    {
        string dll = typeof(BenchCommand).Assembly.Location;
        string? process = Environment.ProcessPath;
        string name = process is null ? "" : Path.GetFileNameWithoutExtension(process);
        if (name == Path.GetFileNameWithoutExtension(dll) && process is not null) return (process, [PointVerb]);
        string host = name == "dotnet" ? process! : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        return (host, [dll, PointVerb]);
    }
}
