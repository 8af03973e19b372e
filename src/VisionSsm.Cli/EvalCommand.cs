using System.CommandLine;
using VisionSsm.Analysis;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm eval`: timm's validate.py — top-1/top-5, per-class accuracy and the confusion matrix on a test split.</summary>
static class EvalCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("eval", "Evaluate a checkpoint on a data set's test split.");
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one a .ckpt records; required for official weights)" };
        var checkpoint = new Option<string>("--checkpoint", "-c")
        {
            Description = "a vssm checkpoint (last.ckpt / best.ckpt) or an official weights file (.pth/.pt from torch.save, or " +
                          ".safetensors; needs --model, and evaluates with the zoo entry's preprocessing)",
            Required = true,
        };
        var data = new Option<string>("--data") { Description = "data directory (default: the data the checkpoint was trained on)" };
        var useEma = new Option<bool>("--ema") { Description = "evaluate the EMA weights" };
        var batch = new Option<int>("--batch-size", "-b") { Description = "batch size", DefaultValueFactory = _ => 256 };
        var resize = new Option<bool>("--resize") { Description = "resize images whose size differs from the model's" };
        var tta = new Option<bool>("--tta") { Description = "flip test-time augmentation: average the class probabilities of each image and its mirror" };
        var sizes = new Option<string>("--size")
        {
            Description = "evaluate at these input sides instead, e.g. 28,56,112 (VMamba Table 4): a table and an accuracy-vs-resolution PNG",
        };
        var plot = new Option<string>("--plot") { Description = "where --size writes its PNG (default: resolution-<model>.png beside the checkpoint)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, checkpoint, data, useEma, batch, resize, tta, sizes, plot }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            int[]? sizeList = p.GetValue(sizes) is { } sizeText ? CommonOptions.ParseInts(sizeText, "--size") : null;
            if (sizeList is not null) Analysis.ResolutionStudy.CheckSizes(sizeList);
            using var loaded = CheckpointModel.Open(p.GetValue(checkpoint)!, p.GetValue(model), p.GetValue(useEma), dev);
            var info = loaded.Info;
            var pre = loaded.Preprocessing;
            string? dataDir = p.GetValue(data) ?? info?.Config.Data;
            var (_, test) = RunData.OpenSplits(dataDir);
            if (test.Classes.Count != loaded.Classes.Count)
                throw new ArgumentException($"--data: the data set has {test.Classes.Count} classes; the model has {loaded.Classes.Count}.", "data");
            if (sizeList is not null)
                return Resolution(ctx, loaded, test, sizeList, p.GetValue(batch), dev,
                    p.GetValue(plot) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(p.GetValue(checkpoint)!))!, $"resolution-{loaded.ModelName}.png"));
            var first = test.Get(0);
            // A training recipe that fixed the size, and the ImageNet-style pipeline (resize + center crop), resize by design.
            bool resizes = info?.Config.ImageSize is not null || !pre.SmallImage;
            if ((first.Height != pre.ImageSize || first.Width != pre.ImageSize) && !resizes && !p.GetValue(resize))
                throw new ArgumentException($"--data: images are {first.Height}×{first.Width}; model '{loaded.ModelName}' needs " +
                                            $"{pre.ImageSize}×{pre.ImageSize} (pass --resize to resize them).", "data");
            // Labels: the checkpoint's class names; for official weights the data set's (index order = class order).
            var classes = info is null ? test.Classes : loaded.Classes;
            var metrics = Evaluation.Evaluate(loaded.Net, test, pre.EvalTransform(), p.GetValue(batch), dev, classes, flipTta: p.GetValue(tta));
            ctx.Out.WriteLine($"{loaded.ModelName} ({p.GetValue(checkpoint)}) on {test.Count} test images" +
                              $"{(p.GetValue(useEma) ? " (EMA weights)" : "")}{(p.GetValue(tta) ? " (flip TTA)" : "")}");
            ctx.Out.Write(metrics.Format("test"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>`--size`: <see cref="ResolutionStudy"/> over the sizes, a table and a plot.</summary>
    static int Resolution(CliContext ctx, InferenceModel loaded, Data.IImageDataset test, int[] sizes, int batch, TorchSharp.torch.Device dev, string plot)
    {
        ctx.Out.WriteLine($"{loaded.ModelName} trained at {loaded.Preprocessing.ImageSize}², evaluated on {test.Count} test images at {string.Join(", ", sizes)}");
        int lastTenth = -1;
        var rows = Analysis.ResolutionStudy.Run(loaded, test, sizes, batch, dev,
            r =>
            {
                if (ctx.Interactive) ctx.Error.Write("\r");
                ctx.Error.WriteLine($"  {r.Size}²: top-1 {r.Top1:F2} %            ");
                lastTenth = -1;
            },
            images: (size, done, total) =>
            {
                // A line per tenth of the test set when the output is a log; a line redrawn in place on a terminal.
                if (ctx.Interactive) ctx.Error.Write($"\r  {size}²: {done}/{total} images");
                else if (done * 10 / total is var tenth && tenth > lastTenth && done < total)
                {
                    ctx.Error.WriteLine($"  {size}²: {done}/{total} images");
                    lastTenth = tenth;
                }
            });
        ctx.Out.Write(Analysis.ResolutionStudy.Format(rows));
        Analysis.ResolutionStudy.SavePlot(rows, plot, $"{loaded.ModelName}: accuracy vs input size (trained at {loaded.Preprocessing.ImageSize}²)");
        ctx.Out.WriteLine($"wrote {plot}");
        return 0;
    }
}
