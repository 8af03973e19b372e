using VisionSsm.Analysis;
using VisionSsm.Detection.Models;
using VisionSsm.Models;

namespace VisionSsm.Cli;

/// <summary>`vssm models --task detection`: the Mask R-CNN registry with params (80 classes) and, with --flops, GFLOPs at 1280×800.</summary>
static class DetectionModelsListing
{
    public static int List(CliContext ctx, bool withFlops, string? filter, int height = 1280, int width = 800)
    {
        var entries = DetectionZoo.Entries.Where(e => filter is null || e.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        ctx.Out.WriteLine($"| {"model",-28} | backbone | params (M, 80 cl.) | paper params (M) | GFLOPs {height}×{width} | paper GFLOPs | paper AP box/mask | source | description |");
        ctx.Out.WriteLine("|---|---|---:|---:|---:|---:|---:|---|---|");
        foreach (var e in entries)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var net = e.Create(new ModelOptions(80));
            double paramsM = net.parameters().Sum(t => t.numel()) / 1e6;
            string gflops = "";
            if (withFlops)
            {
                if (ctx.Interactive) ctx.Error.Write($"\r  {e.Name}…".PadRight(40));
                gflops = e.Small || net.BackboneLevels.FixedInputSide is not null
                    ? $"{DetectionFlops.Count(net, e.ImageSize, e.ImageSize).GFlops:F2} ({e.ImageSize}²)"
                    : $"{DetectionFlops.Count(net, height, width).GFlops:F1}";
            }
            var r = e.Reported;
            string ap = r?.BoxAp is { } b ? $"{b:0.0}/{(r.MaskAp is { } m ? m.ToString("0.0") : "–")}" : "";
            ctx.Out.WriteLine($"| {e.Name,-28} | {e.Config.Backbone} | {paramsM:F2} | {Fmt(r?.ParamsM)} | {gflops} | {Fmt(r?.GFlops)} | {ap} | {r?.Source} | {e.Description} |");
        }
        if (withFlops && ctx.Interactive) ctx.Error.WriteLine("\r".PadRight(40));
        if (!withFlops) ctx.Out.WriteLine($"(GFLOPs at {height}×{width}: add --flops; slow, one forward pass per model)");
        return 0;
    }

    static string Fmt(double? v) => v is null ? "" : $"{v:0.##}";
}
