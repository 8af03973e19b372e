using System.CommandLine;
using VisionSsm.Models;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm eval`: timm's validate.py — top-1/top-5, per-class accuracy and the confusion matrix on a test split.</summary>
static class EvalCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("eval", "Evaluate a checkpoint on a data set's test split.");
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one the checkpoint records)" };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "checkpoint file (last.ckpt / best.ckpt)", Required = true };
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
            using var ckpt = Checkpoint.Load(p.GetValue(checkpoint)!);
            var info = ckpt.Info;
            var net = CheckpointModel.Build(ckpt, p.GetValue(model), p.GetValue(useEma), dev);
            string? dataDir = p.GetValue(data) ?? info.Config.Data;
            var (_, test) = RunData.OpenSplits(dataDir);
            if (test.Classes.Count != info.Classes.Count)
                throw new ArgumentException($"--data: the data set has {test.Classes.Count} classes; the checkpoint's model has {info.Classes.Count}.", "data");
            var first = test.Get(0);
            bool sizeInRecipe = info.Config.ImageSize is not null;
            if ((first.Height != info.Preprocessing.ImageSize || first.Width != info.Preprocessing.ImageSize) && !sizeInRecipe && !p.GetValue(resize))
                throw new ArgumentException($"--data: images are {first.Height}×{first.Width}; model '{info.ModelName}' needs " +
                                            $"{info.Preprocessing.ImageSize}×{info.Preprocessing.ImageSize} (pass --resize to resize them).", "data");
            var metrics = Evaluation.Evaluate(net, test, info.Preprocessing.EvalTransform(), p.GetValue(batch), dev, info.Classes, flipTta: p.GetValue(tta));
            ctx.Out.WriteLine($"{info.ModelName} ({p.GetValue(checkpoint)}) on {test.Count} test images" +
                              $"{(p.GetValue(useEma) ? " (EMA weights)" : "")}{(p.GetValue(tta) ? " (flip TTA)" : "")}");
            ctx.Out.Write(metrics.Format("test"));
            return 0;
        }));
        return cmd;
    }
}
