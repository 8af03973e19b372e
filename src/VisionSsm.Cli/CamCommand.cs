using System.CommandLine;
using VisionSsm.Analysis;

namespace VisionSsm.Cli;

/// <summary>`vssm cam`: Grad-CAM / HiResCAM maps of a model's prediction, overlaid on the input images.</summary>
static class CamCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("cam", "Grad-CAM or HiResCAM of a class (default: the predicted one) at a feature level (default: the last), " +
                                     "overlaid on each input; writes PNGs, the raw maps (.npy) and cam.json.");
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one a .ckpt records)" };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a .ckpt or official .pth/.safetensors (default: random initialisation)" };
        var method = new Option<string>("--method") { Description = "gradcam or hirescam", DefaultValueFactory = _ => "gradcam" };
        var cls = new Option<int?>("--class") { Description = "class index to explain (default: the predicted class)" };
        var layer = new Option<int?>("--layer") { Description = "FeatureInfo level index (default: the last; `vssm models`' feature levels)" };
        var common = new AnalysisOptions();
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, checkpoint, method, cls, layer }) cmd.Options.Add(o);
        common.AddTo(cmd);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            var m = p.GetValue(method)!.ToLowerInvariant() switch
            {
                "gradcam" or "grad-cam" => CamMethod.GradCam,
                "hirescam" => CamMethod.HiResCam,
                var other => throw new ArgumentException($"--method '{other}': expected gradcam or hirescam.", "method"),
            };
            if (p.GetValue(model) is { } name) VisionSsm.Models.ModelZoo.Get(name);
            else if (p.GetValue(checkpoint) is null)
                throw new ArgumentException("--model: name the model (or give a .ckpt with --checkpoint).", "model");
            int count = common.CountOf(p, fallback: 1);
            string output = common.OutputOf(p, "cam");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var request = new CamRequest(p.GetValue(model), p.GetValue(checkpoint), common.Inputs(p), count, p.GetValue(common.Size),
                m, p.GetValue(cls), p.GetValue(layer), dev, p.GetValue(common.Seed));
            var entries = CamReport.Run(request, output, line => ctx.Error.WriteLine(line), ctx.Cancellation);
            foreach (var e in entries)
                ctx.Out.WriteLine($"{e.Image}: class {e.ClassIndex} '{e.Label}' p={e.Probability:F3}, {e.MapHeight}×{e.MapWidth} map at level {e.Level} ({e.LevelModule}) → {Path.Combine(output, e.Figure)}");
            ctx.Out.WriteLine($"wrote {entries.Count} map(s) and {Path.Combine(output, "cam.json")} ({clock.Elapsed.TotalSeconds:F1} s)");
            return 0;
        }));
        return cmd;
    }
}
