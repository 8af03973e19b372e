using System.CommandLine;
using VisionSsm.Analysis;
using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Models;
using VisionSsm.Segmentation.Training;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm segment train|eval|predict`: UperNet semantic segmentation (docs/segmentation.md).</summary>
static class SegmentCommand
{
    public static Command Create(CliContext ctx) =>
        TaskRuns.Verb("segment", "Semantic segmentation with UperNet on any zoo backbone: train, eval, predict (docs/segmentation.md).", Train(ctx), Eval(ctx), Predict(ctx));

    static Command Train(CliContext ctx)
    {
        var d = new SegmentationTrainConfig();
        var cmd = new Command("train", "Train a UperNet model (default: the embedded Fashion-MNIST canvases) and write a run folder.");
        var recipe = new Option<string>("--recipe") { Description = $"start from a preset ({string.Join(", ", SegmentationRecipes.All.Keys)}); other options override it" };
        var model = new Option<string>("--model") { Description = $"segmentation model (default {d.Model}; see `vssm models --task segmentation`)" };
        var data = new Option<string>("--data") { Description = "data folder: ADE20K, Pascal VOC, or images/ + masks/ (default: Fashion-MNIST canvases)" };
        var iters = new Option<long?>("--iters") { Description = $"training iterations (default {d.Iterations})" };
        var batch = new Option<int?>("--batch-size", "-b") { Description = $"batch size (default {d.BatchSize})" };
        var lr = new Option<double?>("--lr") { Description = $"peak learning rate (default {d.Lr})" };
        var wd = new Option<double?>("--weight-decay") { Description = $"AdamW weight decay (default {d.WeightDecay})" };
        var warmup = new Option<long?>("--warmup-iters") { Description = $"linear warmup iterations (default {d.WarmupIters})" };
        var layerDecay = new Option<double?>("--layer-decay") { Description = "layer-wise lr decay rate (Vim: 0.92; default off)" };
        var backboneLrMult = new Option<double?>("--backbone-lr-mult") { Description = $"lr multiplier of the backbone's parameters (default 1; mmseg's lr_mult on 'backbone', e.g. 0.1 to fine-tune a --backbone-checkpoint gently)" };
        var clip = new Option<double?>("--clip-grad") { Description = "max gradient norm (default 0 = off)" };
        var ema = new Option<double?>("--ema-decay") { Description = "EMA decay (default 0 = off)" };
        var dropPath = new Option<double?>("--drop-path") { Description = "backbone drop-path rate (default: the model's)" };
        var crop = new Option<int?>("--crop-size") { Description = "training crop side (default: the model's)" };
        var evalInterval = new Option<long?>("--eval-interval") { Description = $"evaluate and checkpoint every N iterations (default {d.EvalInterval})" };
        var evalLimit = new Option<int?>("--eval-limit") { Description = "test images per evaluation (default 0 = all)" };
        var canvases = new Option<string>("--canvases") { Description = $"embedded data: TRAIN,TEST canvas counts (default {d.CanvasTrain},{d.CanvasTest})" };
        var canvasOverlap = new Option<double?>("--canvas-overlap") { Description = $"embedded data: cap on an item's overlap with each earlier item, as a share of the smaller one's square (default {new CanvasOptions().MaxOverlap}; 1 = no cap)" };
        var backboneCkpt = new Option<string>("--backbone-checkpoint") { Description = "classification checkpoint (.pth/.safetensors/.ckpt weights) loaded into the backbone" };
        var seed = new Option<int?>("--seed") { Description = $"seed (default {d.Seed})" };
        var output = new Option<string>("--output", "-o") { Description = "run folder (default runs/seg-<time>-<model>)" };
        var resume = new Option<string>("--resume") { Description = "continue the run in this folder where it stopped" };
        var maxSteps = new Option<long?>("--max-steps") { Description = "stop (and checkpoint) after this many iterations in total" };
        var logInterval = new Option<int?>("--log-interval") { Description = $"progress line every N iterations (default {d.LogInterval})" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var all = new Option[] { recipe, model, data, iters, batch, lr, wd, warmup, layerDecay, backboneLrMult, clip, ema, dropPath, crop, evalInterval, evalLimit, canvases, canvasOverlap,
            backboneCkpt, seed, output, resume, maxSteps, logInterval };
        foreach (var o in all) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            OpenMpPolicy.SetSpinCountBeforeLibtorchLoads(OpenMpPolicy.TrainingSpinCount);
            CommonOptions.Apply(p, threads, device);
            SegmentationTrainer trainer;
            void Log(string m) => ctx.Out.WriteLine(m);
            if (p.GetValue(resume) is { } resumePath)
            {
                var run = TaskRuns.ForResume(p, resumePath, all, [iters, maxSteps, logInterval, resume]);
                trainer = SegmentationTrainer.Resume(run, c => c with
                {
                    Iterations = p.GetValue(iters) ?? c.Iterations, MaxSteps = p.GetValue(maxSteps), Threads = p.GetValue(threads),
                    LogInterval = p.GetValue(logInterval) ?? c.LogInterval,
                }, Log);
                ctx.Out.WriteLine($"resuming {run.Path}: {trainer.Config.Model}");
            }
            else
            {
                var b = p.GetValue(recipe) is { } r ? SegmentationRecipes.Get(r) : d;
                var (ct, cte) = p.GetValue(canvases) is { } cv ? ParsePair(cv) : (b.CanvasTrain, b.CanvasTest);
                var config = b with
                {
                    Model = p.GetValue(model) ?? b.Model, Data = p.GetValue(data) ?? b.Data, Iterations = p.GetValue(iters) ?? b.Iterations,
                    BatchSize = p.GetValue(batch) ?? b.BatchSize, Lr = p.GetValue(lr) ?? b.Lr, WeightDecay = p.GetValue(wd) ?? b.WeightDecay,
                    WarmupIters = p.GetValue(warmup) ?? Math.Min(b.WarmupIters, p.GetValue(iters) ?? b.Iterations),
                    LayerDecay = p.GetValue(layerDecay) ?? b.LayerDecay, BackboneLrMult = p.GetValue(backboneLrMult) ?? b.BackboneLrMult, ClipGrad = p.GetValue(clip) ?? b.ClipGrad,
                    EmaDecay = p.GetValue(ema) ?? b.EmaDecay, DropPath = p.GetValue(dropPath) ?? b.DropPath, CropSize = p.GetValue(crop) ?? b.CropSize,
                    EvalInterval = p.GetValue(evalInterval) ?? b.EvalInterval, EvalLimit = p.GetValue(evalLimit) ?? b.EvalLimit,
                    CanvasTrain = ct, CanvasTest = cte, CanvasMaxOverlap = p.GetValue(canvasOverlap) ?? b.CanvasMaxOverlap, BackboneCheckpoint = p.GetValue(backboneCkpt) ?? b.BackboneCheckpoint,
                    Seed = p.GetValue(seed) ?? b.Seed, Threads = p.GetValue(threads), Device = p.GetValue(device) ?? b.Device,
                    MaxSteps = p.GetValue(maxSteps), LogInterval = p.GetValue(logInterval) ?? b.LogInterval,
                };
                config.Validate();
                SegmentationZoo.Get(config.Model);
                var run = TaskRuns.ForNew(p.GetValue(output), "seg-", config.Model);
                trainer = SegmentationTrainer.Start(config, run, Log);
                ctx.Out.WriteLine($"training {config.Model} ({trainer.Model.parameters().Sum(t => t.numel()) / 1e6:F3} M params) on {trainer.Data.Train.Count} images, " +
                                  $"{trainer.Data.Classes.Count} classes, crop {trainer.CropSize}, {config.Iterations} iterations × batch {config.BatchSize}, " +
                                  $"threads {TorchRuntime.Threads} → {run.Path}");
            }
            using (trainer)
            {
                trainer.Log += Log;
                trainer.Progress += pr =>
                {
                    if (pr.Step % Math.Max(1, trainer.Config.LogInterval) == 0 || pr.Step == pr.TotalSteps)
                        ctx.Out.WriteLine($"iter {pr.Step}/{pr.TotalSteps} loss {pr.Loss:F4} lr {pr.Lr:0.###e+0} {pr.ImagesPerSecond:F1} img/s ETA {pr.Eta:hh\\:mm\\:ss}");
                };
                trainer.Evaluated += (row, _) => ctx.Out.WriteLine(
                    $"eval @ {row.Iteration}: mIoU {row.MIoU:F2}%  aAcc {row.AAcc:F2}%  mAcc {row.MAcc:F2}%" + (row.EmaMIoU is { } e ? $"  EMA mIoU {e:F2}%" : "") +
                    $" (train {row.TrainSeconds:F0} s, {row.ImagesPerSecond:F1} img/s; eval {row.EvalSeconds:F0} s)");
                var result = trainer.Run(ctx.Cancellation);
                if (!result.Completed) return ctx.Cancellation.IsCancellationRequested ? 130 : 0;
                ctx.Out.WriteLine(result.FinalTest!.Scores.Format(trainer.Data.Classes));
                ctx.Out.WriteLine($"run folder: {result.RunPath} (config.json, metrics.csv, metrics.jsonl, curves.png, predictions.png, last.ckpt, best.ckpt)");
                return 0;
            }
        }));
        return cmd;
    }

    static (int, int) ParsePair(string text)
    {
        var v = CommonOptions.ParseInts(text, "--canvases");
        if (v.Length != 2) throw new ArgumentException($"--canvases '{text}': expected TRAIN,TEST, e.g. 10000,1000.", "canvases");
        return (v[0], v[1]);
    }

    static Command Eval(CliContext ctx)
    {
        var cmd = new Command("eval", "Evaluate a segmentation checkpoint: mIoU, per-class IoU and accuracy, aAcc, mAcc.");
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a vssm segmentation .ckpt, or an official mmseg .pth (needs --model)", Required = true };
        var model = new Option<string>("--model") { Description = "segmentation model (default: the checkpoint's)" };
        var data = new Option<string>("--data") { Description = "data folder (default: the embedded canvases' test split)" };
        var mode = new Option<string>("--test-mode") { Description = "whole or slide (default: the checkpoint's)" };
        var limit = new Option<int?>("--limit") { Description = "evaluate only the first N images" };
        var useEma = new Option<bool>("--ema") { Description = "use the EMA weights" };
        var tta = new Option<bool>("--tta") { Description = "multi-scale (0.5–1.75) + flip test-time augmentation" };
        var confusion = new Option<bool>("--confusion") { Description = "also print the confusion matrix (rows: ground truth, % of its pixels per predicted class)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { checkpoint, model, data, mode, limit, useEma, tta, confusion }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            using var net = SegmentationPredictor.Open(p.GetValue(checkpoint)!, p.GetValue(model), p.GetValue(useEma), device: dev);
            ISegmentationDataset test = p.GetValue(data) is { } dir
                ? SegmentationDirectory.Open(dir, train: false, net.Classes, channels: net.Model.InChannels)
                : FashionMnistCanvas.Open(train: false, net.Canvases);
            if (test.Count == 0) throw new InvalidDataException($"--data: the evaluation split of '{p.GetValue(data)}' is empty.");
            if (test.Classes.Count != net.Classes.Count)
                throw new ArgumentException($"--data: the data has {test.Classes.Count} classes; the model predicts {net.Classes.Count}.", "data");
            string testMode = p.GetValue(mode) ?? net.TestMode;
            var result = SegmentationEvaluation.Evaluate(net.Model, test, net.Mean, net.Std, 16, p.GetValue(limit) ?? 0,
                SegmentationPredictor.For(net.Model, testMode, net.CropSize, net.SlideStride, p.GetValue(tta)), dev);
            ctx.Out.WriteLine($"{net.Name}: {result.Images} images, {testMode} inference{(p.GetValue(tta) ? " + multi-scale/flip TTA" : "")}, {result.Seconds:F1} s");
            ctx.Out.WriteLine(result.Scores.Format(net.Classes));
            if (p.GetValue(confusion)) ctx.Out.WriteLine(result.Confusion.Format(net.Classes));
            return 0;
        }));
        return cmd;
    }

    static Command Predict(CliContext ctx)
    {
        var cmd = new Command("predict", "Segment image files: writes a palette mask (<stem>_mask.png) and an overlay (<stem>_overlay.png) per image.");
        var images = new Argument<string[]>("images") { Description = "image files", Arity = ArgumentArity.OneOrMore };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a vssm segmentation .ckpt, or an official mmseg .pth (needs --model)", Required = true };
        var model = new Option<string>("--model") { Description = "segmentation model (default: the checkpoint's)" };
        var output = new Option<string>("--output", "-o") { Description = "output folder (default: beside each image)" };
        var mode = new Option<string>("--test-mode") { Description = "whole or slide (default: the checkpoint's)" };
        var useEma = new Option<bool>("--ema") { Description = "use the EMA weights" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        cmd.Arguments.Add(images);
        foreach (var o in new Option[] { checkpoint, model, output, mode, useEma }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            var files = p.GetValue(images)!;
            foreach (var f in files)
                if (!File.Exists(f)) throw new FileNotFoundException($"image '{f}' does not exist.", f);
            using var net = SegmentationPredictor.Open(p.GetValue(checkpoint)!, p.GetValue(model), p.GetValue(useEma), device: dev);
            var predict = SegmentationPredictor.For(net.Model, p.GetValue(mode) ?? net.TestMode, net.CropSize, net.SlideStride);
            if (p.GetValue(output) is { } o) Directory.CreateDirectory(o);
            int failed = 0;
            foreach (var f in files)
            {
                ImageSample image;
                try { image = ImageDecoder.Decode(f, channels: net.Model.InChannels); }
                catch (ImageReadException e) { ctx.Error.WriteLine($"error: {e.Message}"); failed++; continue; }
                var sample = new SegmentationSample(image.Pixels, image.Channels, image.Height, image.Width, new byte[image.Height * image.Width]);
                var labels = SegmentationPredictor.Labels(net.Model, [sample], net.Mean, net.Std, predict, dev)[0];
                string dir = p.GetValue(output) ?? Path.GetDirectoryName(Path.GetFullPath(f))!;
                string stem = Path.GetFileNameWithoutExtension(f);
                string maskPath = Path.Combine(dir, stem + "_mask.png"), overlayPath = Path.Combine(dir, stem + "_overlay.png");
                LabelPng.Write(maskPath, labels, image.Height, image.Width);
                MaskImages.SaveOverlay(overlayPath, sample, labels);
                var present = labels.GroupBy(l => l).OrderByDescending(g => g.Count())
                    .Select(g => $"{(g.Key < net.Classes.Count ? net.Classes[g.Key] : g.Key.ToString())} {100.0 * g.Count() / labels.Length:F1}%");
                ctx.Out.WriteLine($"{f}: {maskPath}, {overlayPath} ({string.Join(", ", present)})");
            }
            return failed == 0 ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>`vssm models --task segmentation`: the UperNet registry with params (150 classes, aux included) and, with --flops, GFLOPs at 512×2048.</summary>
    public static int ListModels(CliContext ctx, bool withFlops, string? filter, int height = 512, int width = 2048)
    {
        var entries = SegmentationZoo.Entries.Where(e => filter is null || e.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        ctx.Out.WriteLine($"| {"model",-26} | backbone | params (M, 150 cl.) | paper params (M) | GFLOPs {height}×{width} | paper GFLOPs | paper mIoU SS/MS | source | description |");
        ctx.Out.WriteLine("|---|---|---:|---:|---:|---:|---:|---|---|");
        foreach (var e in entries)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            bool small = e.CropSize < 224;
            using var net = e.Create(new ModelOptions(small ? 11 : 150, small ? 1 : 3));
            double paramsM = net.parameters().Sum(t => t.numel()) / 1e6;
            string gflops = "";
            if (withFlops)
            {
                if (net.FixedInputSide is null && !small)
                {
                    if (ctx.Interactive) ctx.Error.Write($"\r  {e.Name}…".PadRight(40));
                    gflops = height % 256 == 0 && width % 256 == 0
                        ? $"{SegmentationFlops.ExtrapolatedGFlops(net, height, width):F1}"
                        : $"{SegmentationFlops.Count(net, height, width).GFlops:F1}";
                }
                else if (!small) gflops = $"{4 * FlopCounter.Count(net, [1, 3, e.CropSize, e.CropSize], FlopConvention.Fvcore).GFlops:F1} (4×{e.CropSize}²)";
                else gflops = $"{FlopCounter.Count(net, [1, 1, e.CropSize, e.CropSize], FlopConvention.Fvcore).GFlops:F3} ({e.CropSize}²)";
            }
            var r = e.Reported;
            string miou = r?.MIoU is { } s ? $"{s:0.0}/{(r.MIoUMs is { } m ? m.ToString("0.0") : "–")}" : "";
            ctx.Out.WriteLine($"| {e.Name,-26} | {e.Config.Backbone} | {paramsM:F2}{(small ? " (11 cl.)" : "")} | {Fmt(r?.ParamsM)} | {gflops} | {Fmt(r?.GFlops)} | {miou} | {r?.Source} | {e.Description} |");
        }
        if (!withFlops) ctx.Out.WriteLine($"(GFLOPs at {height}×{width}: add --flops; slow, one forward pass per model)");
        return 0;
    }

    static string Fmt(double? v) => v is null ? "" : $"{v:0.##}";
}
