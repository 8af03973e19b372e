using System.CommandLine;
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
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, checkpoint, data, useEma, batch, resize, tta }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            using var loaded = CheckpointModel.Open(p.GetValue(checkpoint)!, p.GetValue(model), p.GetValue(useEma), dev);
            var info = loaded.Info;
            var pre = loaded.Preprocessing;
            string? dataDir = p.GetValue(data) ?? info?.Config.Data;
            var (_, test) = RunData.OpenSplits(dataDir);
            if (test.Classes.Count != loaded.Classes.Count)
                throw new ArgumentException($"--data: the data set has {test.Classes.Count} classes; the model has {loaded.Classes.Count}.", "data");
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
}
