using System.CommandLine;
using VisionSsm.Analysis;

namespace VisionSsm.Cli;

/// <summary>`vssm erf`: effective receptive fields (VMamba Fig. 10) of one or more models, at random init or from checkpoints.</summary>
static class ErfCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("erf", "Effective receptive field of the last feature map's centre unit, averaged over images or noise; " +
                                     "writes a heatmap grid (a row per model, a column per checkpoint), erf.json with the area ratios, and the maps (.npy).");
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one a .ckpt records)" };
        var models = new Option<string>("--models") { Description = "comma-separated zoo names: one grid row each" };
        var checkpoint = new Option<string>("--checkpoint", "-c")
        {
            Description = "comma-separated columns: 'init' (random initialisation) or a checkpoint (.ckpt, official .pth/.safetensors); " +
                          "{model} in a path is replaced by the row's model name. Default: init",
        };
        var before = new Option<string>("--checkpoint-before") { Description = "first column (same forms as --checkpoint); with --checkpoint-after" };
        var after = new Option<string>("--checkpoint-after") { Description = "second column (same forms as --checkpoint)" };
        var abs = new Option<bool>("--abs") { Description = "score pixels by |gradient| instead of the reference scripts' relu(gradient)" };
        var replot = new Option<string>("--replot") { Description = "draw erf.png again from a folder vssm erf wrote (erf.json + maps); computes nothing" };
        var common = new AnalysisOptions();
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, models, checkpoint, before, after, abs, replot }) cmd.Options.Add(o);
        common.AddTo(cmd);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            if (p.GetValue(replot) is { } folder)
            {
                var redrawn = ErfReport.Redraw(folder);
                ctx.Out.WriteLine($"redrew {Path.Combine(folder, "erf.png")} from {redrawn.Count} map(s)");
                return 0;
            }
            var columns = AnalysisOptions.List(p.GetValue(checkpoint)).ToList();
            if (p.GetValue(before) is not null || p.GetValue(after) is not null)
            {
                if (columns.Count > 0) throw new ArgumentException("--checkpoint-before/--checkpoint-after: give them instead of --checkpoint, not with it.", "checkpoint");
                if (p.GetValue(before) is null || p.GetValue(after) is null)
                    throw new ArgumentException("--checkpoint-before and --checkpoint-after go together.", "checkpoint-before");
                columns = [p.GetValue(before)!, p.GetValue(after)!];
            }
            if (columns.Count == 0) columns = [AnalysisSubject.RandomInit];
            var names = AnalysisOptions.List(p.GetValue(models)).ToList();
            if (p.GetValue(model) is { } single) names.Insert(0, single);
            if (names.Count == 0)
            {
                // A .ckpt records its model; official weights and random init need a name.
                if (columns.Any(c => c == AnalysisSubject.RandomInit || VisionSsm.Interop.PretrainedWeights.IsWeightsFile(c) || c.Contains("{model}")))
                    throw new ArgumentException("--model/--models: name the model (random init and official weights do not record one).", "model");
                using var probe = VisionSsm.Training.Checkpoint.Load(columns[0]);
                names.Add(probe.Info.ModelName);
            }
            int count = common.CountOf(p, fallback: 8);
            string output = common.OutputOf(p, "erf");
            var request = new ErfRequest(names, columns, common.Inputs(p), count, p.GetValue(common.Size),
                p.GetValue(abs) ? ErfGradient.Abs : ErfGradient.Relu, dev, p.GetValue(common.Seed));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var entries = ErfReport.Run(request, output, line => ctx.Error.WriteLine(line), (label, done, total) =>
            {
                if (ctx.Interactive) ctx.Error.Write($"\r{label}: input {done}/{total}   {(done == total ? "\n" : "")}");
                else ctx.Error.WriteLine($"{label}: input {done}/{total}");
            }, ctx.Cancellation);
            foreach (var e in entries)
                ctx.Out.WriteLine($"{e.Model} [{(e.Checkpoint == "random init" ? "init" : e.Checkpoint)}] {e.Size}²: {ErfReport.Summary(e)}");
            ctx.Out.WriteLine($"wrote {Path.Combine(output, "erf.png")}, {Path.Combine(output, "erf.json")} ({clock.Elapsed.TotalSeconds:F1} s)");
            return 0;
        }));
        return cmd;
    }
}
