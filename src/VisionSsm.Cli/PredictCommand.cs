using System.CommandLine;
using VisionSsm.Data;
using VisionSsm.Export;
using VisionSsm.Runtime;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm predict`: top-k labels with probabilities for image files (timm inference.py).</summary>
static class PredictCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("predict", "Classify image files (JPEG/PNG/…) with a checkpoint or an exported ONNX file; prints the top-k labels with probabilities.");
        var images = new Argument<string[]>("images") { Description = "image files", Arity = ArgumentArity.OneOrMore };
        var checkpoint = new Option<string>("--checkpoint", "-c")
        {
            Description = "a vssm checkpoint (.ckpt: records model, classes and preprocessing) or an official weights file " +
                          "(.pth/.pt from torch.save, or .safetensors; needs --model; labels are class indices)",
        };
        var onnx = new Option<string>("--onnx") { Description = "an ONNX file from `vssm export`, run in ONNX Runtime with the preprocessing it records (instead of --checkpoint)" };
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one a .ckpt records; required for official weights)" };
        var topK = new Option<int>("--top-k", "-k") { Description = "labels per image", DefaultValueFactory = _ => 5 };
        var useEma = new Option<bool>("--ema") { Description = "use the EMA weights" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        cmd.Arguments.Add(images);
        foreach (var o in new Option[] { checkpoint, onnx, model, topK, useEma }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            string? ckpt = p.GetValue(checkpoint), onnxPath = p.GetValue(onnx);
            if ((ckpt is null) == (onnxPath is null))
                throw new ArgumentException("predict: give exactly one of --checkpoint and --onnx.", ckpt is null ? "checkpoint" : "onnx");
            if (p.GetValue(topK) < 1) throw new ArgumentException($"--top-k {p.GetValue(topK)}: expected ≥ 1.", "top-k");
            var files = p.GetValue(images)!;
            foreach (var f in files)
                if (!File.Exists(f)) throw new FileNotFoundException($"image '{f}' does not exist.", f);
            using var ortModel = onnxPath is null ? null : new OnnxClassifier(onnxPath, TorchRuntime.Threads, p.GetValue(model));
            using var predictor = ckpt is null ? null : new Predictor(CheckpointModel.Open(ckpt, p.GetValue(model), p.GetValue(useEma), dev), dev);
            int failed = 0;
            foreach (var f in files)
            {
                ImageSample image;
                try { image = ImageDecoder.Decode(f); }
                catch (ImageReadException e) { ctx.Error.WriteLine($"error: {e.Message}"); failed++; continue; }
                ctx.Out.WriteLine($"{f}:");
                foreach (var pr in predictor?.Predict(image, p.GetValue(topK)) ?? ortModel!.Predict(image, p.GetValue(topK)))
                    ctx.Out.WriteLine($"  {pr.Probability * 100,6:F2}%  {pr.Label} ({pr.ClassIndex})");
            }
            return failed == 0 ? 0 : 1;
        }));
        return cmd;
    }
}
