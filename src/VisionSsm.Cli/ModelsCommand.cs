using System.CommandLine;
using VisionSsm.Analysis;
using VisionSsm.Models;

namespace VisionSsm.Cli;

/// <summary>`vssm models`: the zoo as a table — parameters (and with --flops, GFLOPs at the default size) beside the paper's figures.</summary>
static class ModelsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("models", "List the model zoo: params, GFLOPs at the default size, and the paper's reported figures.");
        var flops = new Option<bool>("--flops") { Description = "also count GFLOPs (one forward pass per model at its default size; slow for the big ones)" };
        var filter = new Option<string>("--filter") { Description = "only names containing this text" };
        var task = new Option<string>("--task") { Description = "classification (default), segmentation (the UperNet models, FLOPs at 512×2048) or detection (Mask R-CNN, FLOPs at 1280×800)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        cmd.Options.Add(flops);
        cmd.Options.Add(filter);
        cmd.Options.Add(task);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            CommonOptions.Apply(p, threads, device);
            bool withFlops = p.GetValue(flops);
            string? f = p.GetValue(filter);
            if (p.GetValue(task) is { } t && t != "classification")
                return t == "segmentation" ? SegmentCommand.ListModels(ctx, withFlops, f)
                    : t == "detection" ? DetectionModelsListing.List(ctx, withFlops, f)
                    : throw new ArgumentException($"--task '{t}': expected classification, segmentation or detection.", "task");
            var entries = ModelZoo.Entries.Where(e => f is null || e.Name.Contains(f, StringComparison.OrdinalIgnoreCase)).ToList();
            if (withFlops) ctx.Error.WriteLine($"counting FLOPs of {entries.Count} models at their default sizes (one forward pass each)…");
            ctx.Out.WriteLine($"| {"model",-28} | {"family",-8} | size | params (M) | paper params (M) | GFLOPs | paper GFLOPs | paper top-1 | description |");
            ctx.Out.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
            foreach (var e in entries)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var net = ModelZoo.Create(e.Name, new ModelOptions(ImageSize: e.DefaultImageSize));
                double paramsM = net.parameters().Sum(t => t.numel()) / 1e6;
                string gflops = "";
                if (withFlops)
                {
                    if (ctx.Interactive) ctx.Error.Write($"\r  {e.Name}…".PadRight(40));
                    gflops = $"{FlopCounter.Count(net, [1, 3, e.DefaultImageSize, e.DefaultImageSize], e.FlopConvention).GFlops:F2}";
                }
                net.Dispose();
                var r = e.Reported;
                ctx.Out.WriteLine($"| {e.Name,-28} | {e.Family,-8} | {e.DefaultImageSize} | {paramsM:F2} | {Fmt(r?.ParamsM)} | {gflops} | {Fmt(r?.GFlops)} | {Fmt(r?.Top1)} | {e.Description} |");
            }
            if (withFlops && ctx.Interactive) ctx.Error.WriteLine("\r".PadRight(40));
            if (!withFlops) ctx.Out.WriteLine("(GFLOPs: add --flops; or `vssm flops --model NAME` for one model)");
            return 0;
        }));
        return cmd;
    }

    static string Fmt(double? v) => v is null ? "" : $"{v:0.##}";
}
