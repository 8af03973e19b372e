using System.CommandLine;
using VisionSsm.Analysis;
using VisionSsm.Models;

namespace VisionSsm.Cli;

/// <summary>`vssm flops`: the FLOPs of one forward pass, broken down by layer type (FlopReport.ByCategory).</summary>
static class FlopsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("flops", "Count a model's FLOPs (one multiply-add = one FLOP) per layer type.");
        var model = new Option<string>("--model", "-m") { Description = "zoo model name", Required = true };
        var size = new Option<int?>("--size") { Description = "input size (default: the model's default)" };
        var channels = new Option<int>("--in-chans") { Description = "input channels", DefaultValueFactory = _ => 3 };
        var convention = new Option<string>("--convention") { Description = "fvcore or thop (default: the model's paper convention)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, size, channels, convention }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            CommonOptions.Apply(p, threads, device);
            var entry = ModelZoo.Get(p.GetValue(model)!);
            int s = p.GetValue(size) ?? entry.DefaultImageSize;
            if (s < 1) throw new ArgumentException($"--size {s}: expected a positive image size.", "size");
            int c = p.GetValue(channels);
            var conv = p.GetValue(convention) switch
            {
                null => entry.FlopConvention,
                var t when t.Equals("fvcore", StringComparison.OrdinalIgnoreCase) => FlopConvention.Fvcore,
                var t when t.Equals("thop", StringComparison.OrdinalIgnoreCase) => FlopConvention.Thop,
                var t => throw new ArgumentException($"--convention '{t}': expected fvcore or thop.", "convention"),
            };
            using var scope = TorchSharp.torch.NewDisposeScope();
            var net = ModelZoo.Create(entry.Name, new ModelOptions(InChannels: c, ImageSize: s));
            FlopReport report;
            try { report = FlopCounter.Count(net, [1, c, s, s], conv); }
            catch (Exception e) when (e is ArgumentException or System.Runtime.InteropServices.ExternalException)
            {
                throw new ArgumentException($"--size {s}: model '{entry.Name}' cannot take {c}×{s}×{s} input (default size {entry.DefaultImageSize}): {e.Message}", "size", e);
            }
            ctx.Out.WriteLine($"{entry.Name} at {c}×{s}×{s}, {conv} convention: {report.GFlops:F3} GFLOPs, " +
                              $"{net.parameters().Sum(t => t.numel()) / 1e6:F2} M params");
            ctx.Out.WriteLine("| layer type | GFLOPs | share |");
            ctx.Out.WriteLine("|---|---:|---:|");
            foreach (var (cat, n) in report.ByCategory.OrderByDescending(kv => kv.Value))
                ctx.Out.WriteLine($"| {cat} | {n / 1e9:F4} | {100.0 * n / Math.Max(report.Total, 1):F1}% |");
            if (entry.Reported?.GFlops is { } paper) ctx.Out.WriteLine($"paper: {paper} GFLOPs ({entry.Reported.Source})");
            return 0;
        }));
        return cmd;
    }
}
