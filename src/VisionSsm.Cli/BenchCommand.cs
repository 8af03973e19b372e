using System.CommandLine;
using VisionSsm.Analysis;

namespace VisionSsm.Cli;

/// <summary>`vssm bench`: inference img/s, latency and peak memory of several models across resolutions, side by side in one process.</summary>
static class BenchCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("bench", "Measure inference throughput, latency and peak memory vs resolution; writes a table and a PNG plot.");
        var models = new Option<string>("--models") { Description = "comma-separated zoo names", Required = true };
        var sizes = new Option<string>("--sizes") { Description = "comma-separated input sizes", DefaultValueFactory = _ => "224" };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 1 };
        var seconds = new Option<double>("--seconds") { Description = "minimum timed seconds per point", DefaultValueFactory = _ => 2.0 };
        var plot = new Option<string>("--plot") { Description = "PNG path (default runs/bench-<time>.png)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { models, sizes, batch, seconds, plot }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            var names = p.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0) throw new ArgumentException("--models: expected at least one model name.", "models");
            var sz = CommonOptions.ParseInts(p.GetValue(sizes)!, "--sizes");
            if (sz.Any(s => s < 1)) throw new ArgumentException($"--sizes: expected positive sizes, got {p.GetValue(sizes)}.", "sizes");
            if (p.GetValue(batch) < 1) throw new ArgumentException($"--batch {p.GetValue(batch)}: expected ≥ 1.", "batch");
            var bench = new ThroughputBenchmark { MinSeconds = p.GetValue(seconds), Device = dev };
            bench.Log += m => ctx.Error.WriteLine(m);
            ctx.Error.WriteLine($"threads {Runtime.TorchRuntime.Threads}, batch {p.GetValue(batch)}, float32, inference");
            var results = bench.Run(names, sz, p.GetValue(batch));
            ctx.Out.Write(ThroughputBenchmark.FormatTable(results));
            string png = p.GetValue(plot) ?? Path.Combine("runs", $"bench-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(png))!);
            ThroughputBenchmark.SavePlot(results, png);
            ctx.Out.WriteLine($"plot: {png}");
            return results.All(r => r.Error is null) ? 0 : 1;
        }));
        return cmd;
    }
}
