using System.CommandLine;
using VisionSsm.Detection.Coco;
using VisionSsm.Detection.Data;
using VisionSsm.Detection.Inference;
using VisionSsm.Detection.Training;
using VisionSsm.Runtime;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm detect train|eval|predict`: Mask R-CNN detection and instance segmentation (docs/detection.md).</summary>
static class DetectCommand
{
    public static Command Create(CliContext ctx) =>
        TaskRuns.Verb("detect", "Object detection and instance segmentation (Mask R-CNN): train, eval, predict (docs/detection.md).", Train(ctx), Eval(ctx), Predict(ctx));

    static Command Train(CliContext ctx)
    {
        var d = new DetectionTrainConfig();
        var cmd = new Command("train", "Train a detector (default: the embedded Fashion-MNIST detection canvases, written as COCO files) and write a run folder.");
        var recipe = new Option<string>("--recipe") { Description = $"start from a preset ({string.Join(", ", DetectionRecipes.All.Keys)}); other options override it" };
        var model = new Option<string>("--model") { Description = $"detector (default {d.Model})" };
        var data = new Option<string>("--data") { Description = "COCO folder: annotations/instances_<split>.json + <split>/ images (default: the composed canvases)" };
        var canvasDir = new Option<string>("--canvas-dir") { Description = "where the embedded canvases are written (default data/fashion-detection-canvases-TRAINxTEST, with -capC when the overlap cap C is below 1)" };
        var canvases = new Option<string>("--canvases") { Description = $"embedded data: TRAIN,TEST canvas counts (default {d.CanvasTrain},{d.CanvasTest})" };
        var canvasOverlap = new Option<double?>("--canvas-overlap") { Description = $"embedded data: cap on an item's overlap with each earlier item, as a share of the smaller one's square (default {d.CanvasOptions().Canvas.MaxOverlap}; 1 = no cap)" };
        var epochs = new Option<int?>("--epochs") { Description = $"training epochs (default {d.Epochs})" };
        var batch = new Option<int?>("--batch-size", "-b") { Description = $"batch size (default {d.BatchSize})" };
        var lr = new Option<double?>("--lr") { Description = $"peak learning rate (default {d.Lr})" };
        var wd = new Option<double?>("--weight-decay") { Description = $"AdamW weight decay (default {d.WeightDecay})" };
        var warmup = new Option<long?>("--warmup-iters") { Description = $"linear warmup iterations (default {d.WarmupIters})" };
        var milestones = new Option<string>("--milestones") { Description = $"epochs where the lr drops ×gamma (default {string.Join(",", d.Milestones)})" };
        var clip = new Option<double?>("--clip-grad") { Description = "max gradient norm (default 0 = off)" };
        var scale = new Option<string>("--scale") { Description = $"keep-ratio resize LONG,SHORT[,SHORT…]; several short sides = multi-scale training (default {d.ScaleLong},{string.Join(",", d.ScaleShort)})" };
        var boxPolicy = new Option<string>("--box-policy") { Description = "boxes reaching outside their image: reject (error) or clip (default: the recipe's)" };
        var evalInterval = new Option<int?>("--eval-interval") { Description = $"evaluate and checkpoint every N epochs (default {d.EvalInterval})" };
        var evalLimit = new Option<int?>("--eval-limit") { Description = "test images per evaluation (default 0 = all)" };
        var seed = new Option<int?>("--seed") { Description = $"seed (default {d.Seed})" };
        var output = new Option<string>("--output", "-o") { Description = "run folder (default runs/det-<time>-<model>)" };
        var resume = new Option<string>("--resume") { Description = "continue the run in this folder where it stopped" };
        var maxSteps = new Option<long?>("--max-steps") { Description = "stop (and checkpoint) after this many iterations in total" };
        var logInterval = new Option<int?>("--log-interval") { Description = $"progress line every N iterations (default {d.LogInterval})" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var all = new Option[] { recipe, model, data, canvasDir, canvases, canvasOverlap, epochs, batch, lr, wd, warmup, milestones, clip, scale, boxPolicy, evalInterval,
            evalLimit, seed, output, resume, maxSteps, logInterval };
        foreach (var o in all) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            OpenMpPolicy.SetSpinCountBeforeLibtorchLoads(OpenMpPolicy.TrainingSpinCount);
            CommonOptions.Apply(p, threads, device);
            DetectionTrainer trainer;
            void Log(string m) => ctx.Out.WriteLine(m);
            if (p.GetValue(resume) is { } resumePath)
            {
                var run = TaskRuns.ForResume(p, resumePath, all, [epochs, maxSteps, logInterval, resume]);
                trainer = DetectionTrainer.Resume(run, c => c with
                {
                    Epochs = p.GetValue(epochs) ?? c.Epochs, MaxSteps = p.GetValue(maxSteps), Threads = p.GetValue(threads),
                    LogInterval = p.GetValue(logInterval) ?? c.LogInterval,
                }, Log);
                ctx.Out.WriteLine($"resuming {run.Path}: {trainer.Config.Model}");
            }
            else
            {
                var b = p.GetValue(recipe) is { } r ? DetectionRecipes.Get(r) : d;
                var (ct, cte) = p.GetValue(canvases) is { } cv ? ParsePair(cv) : (b.CanvasTrain, b.CanvasTest);
                var (sl, ss) = p.GetValue(scale) is { } sc ? ParseScale(sc) : (b.ScaleLong, b.ScaleShort);
                var config = b with
                {
                    Model = p.GetValue(model) ?? b.Model, Data = p.GetValue(data) ?? b.Data, CanvasDirectory = p.GetValue(canvasDir) ?? b.CanvasDirectory,
                    CanvasTrain = ct, CanvasTest = cte, CanvasMaxOverlap = p.GetValue(canvasOverlap) ?? b.CanvasMaxOverlap, Epochs = p.GetValue(epochs) ?? b.Epochs, BatchSize = p.GetValue(batch) ?? b.BatchSize,
                    Lr = p.GetValue(lr) ?? b.Lr, WeightDecay = p.GetValue(wd) ?? b.WeightDecay, WarmupIters = p.GetValue(warmup) ?? b.WarmupIters,
                    Milestones = p.GetValue(milestones) is { } ms ? CommonOptions.ParseInts(ms, "--milestones") : b.Milestones,
                    ClipGrad = p.GetValue(clip) ?? b.ClipGrad, ScaleLong = sl, ScaleShort = ss,
                    BoxPolicy = p.GetValue(boxPolicy) is { } bp ? ParsePolicy(bp) : b.BoxPolicy,
                    EvalInterval = p.GetValue(evalInterval) ?? b.EvalInterval, EvalLimit = p.GetValue(evalLimit) ?? b.EvalLimit,
                    Seed = p.GetValue(seed) ?? b.Seed, Threads = p.GetValue(threads), Device = p.GetValue(device) ?? b.Device,
                    MaxSteps = p.GetValue(maxSteps), LogInterval = p.GetValue(logInterval) ?? b.LogInterval,
                };
                config.Validate();
                DetectorFactory.Check(config.Model);
                var run = TaskRuns.ForNew(p.GetValue(output), "det-", config.Model);
                trainer = DetectionTrainer.Start(config, run, Log);
                ctx.Out.WriteLine($"training {config.Model} ({trainer.Detector.Module.parameters().Sum(t => t.numel()) / 1e6:F3} M params) on {trainer.Data.Train.Count} images " +
                                  $"({config.DataRoot()}), {trainer.Data.Classes.Count} classes, {config.Epochs} epochs × {trainer.StepsPerEpoch} iterations × batch {config.BatchSize}, " +
                                  $"threads {TorchRuntime.Threads} → {run.Path}");
            }
            using (trainer)
            {
                trainer.Log += Log;
                trainer.Progress += pr =>
                {
                    if (pr.Step % Math.Max(1, trainer.Config.LogInterval) == 0 || pr.Step == pr.TotalSteps)
                        ctx.Out.WriteLine($"epoch {pr.Epoch} iter {pr.Step}/{pr.TotalSteps} loss {pr.Loss:F4} (" +
                                          string.Join(" ", pr.Losses.Select(kv => $"{kv.Key} {kv.Value:F3}")) +
                                          $") lr {pr.Lr:0.###e+0} {pr.ImagesPerSecond:F1} img/s ETA {pr.Eta:hh\\:mm\\:ss}");
                };
                trainer.Evaluated += (row, _) => ctx.Out.WriteLine(
                    $"eval @ epoch {row.Epoch} (iter {row.Iteration}): box AP {row.Box[0]:F1}  AP50 {row.Box[1]:F1}  AP75 {row.Box[2]:F1}" +
                    (row.Mask is { } m ? $"  mask AP {m[0]:F1}  AP50 {m[1]:F1}" : "") +
                    $" (train {row.TrainSeconds:F0} s, {row.ImagesPerSecond:F1} img/s; eval {row.EvalSeconds:F0} s)");
                var result = trainer.Run(ctx.Cancellation);
                if (!result.Completed) return ctx.Cancellation.IsCancellationRequested ? 130 : 0;
                ctx.Out.WriteLine(result.FinalTest!.Summary());
                ctx.Out.WriteLine($"run folder: {result.RunPath} (config.json, metrics.jsonl, curves.png, predictions.png, detections.json, last.ckpt, best.ckpt)");
                return 0;
            }
        }));
        return cmd;
    }

    static (int, int) ParsePair(string text)
    {
        var v = CommonOptions.ParseInts(text, "--canvases");
        if (v.Length != 2) throw new ArgumentException($"--canvases '{text}': expected TRAIN,TEST, e.g. 4000,500.", "canvases");
        return (v[0], v[1]);
    }

    static (int, int[]) ParseScale(string text)
    {
        var v = CommonOptions.ParseInts(text, "--scale");
        if (v.Length < 2) throw new ArgumentException($"--scale '{text}': expected LONG,SHORT[,SHORT…], e.g. 1333,800.", "scale");
        return (v[0], v[1..]);
    }

    static BoxPolicy ParsePolicy(string text) => text.ToLowerInvariant() switch
    {
        "reject" => BoxPolicy.Reject,
        "clip" => BoxPolicy.Clip,
        _ => throw new ArgumentException($"--box-policy '{text}': expected reject or clip.", "box-policy"),
    };

    static Command Eval(CliContext ctx)
    {
        var cmd = new Command("eval", "Evaluate a detection checkpoint on a COCO split: pycocotools' box and mask AP tables; writes the detections as COCO results.");
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a vssm detection .ckpt", Required = true };
        var data = new Option<string>("--data") { Description = "COCO folder (its val/test split; default: the folder the run trained on)" };
        var limit = new Option<int?>("--limit") { Description = "evaluate only the first N images" };
        var results = new Option<string>("--results") { Description = "write the detections here as COCO results JSON" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { checkpoint, data, limit, results }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            string ckptPath = p.GetValue(checkpoint)!;
            DetectionTrainConfig config;
            using (var ckpt = Checkpoint.Load(ckptPath)) config = DetectionTrainer.ConfigOf(ckpt, ckptPath);
            using var net = DetectionPredictor.Open(ckptPath, dev);
            string root = p.GetValue(data) ?? config.DataRoot();
            var (ann, images) = CocoFolder.Split(root, train: false);
            var test = CocoImageDataset.Open(ann, images, training: false, config.BoxPolicy, withMasks: net.Detector.PredictsMasks, net.Channels);
            if (!test.Classes.SequenceEqual(net.Classes))
                throw new ArgumentException($"--data: {ann} names {test.Classes.Count} classes ({string.Join(", ", test.Classes.Take(5))}…); " +
                                            $"the model was trained on {net.Classes.Count} ({string.Join(", ", net.Classes.Take(5))}…).", "data");
            var result = DetectionEvaluation.Evaluate(net.Detector, test, net.Pipeline, net.Mean, net.Std, net.SizeDivisor, 8, p.GetValue(limit) ?? 0, dev, ctx.Cancellation);
            ctx.Out.WriteLine($"{net.Name}: {result.Images} images of {ann}, {result.Detections.Count} detections, {result.Seconds:F1} s");
            ctx.Out.WriteLine(result.Summary());
            if (p.GetValue(results) is { } r)
            {
                CocoWriter.WriteResults(r, result.Detections);
                ctx.Out.WriteLine($"detections: {r}");
            }
            return 0;
        }));
        return cmd;
    }

    static Command Predict(CliContext ctx)
    {
        var cmd = new Command("predict", "Detect objects in image files: writes <stem>_det.png (boxes, class names, scores, mask overlays) per image.");
        var images = new Argument<string[]>("images") { Description = "image files", Arity = ArgumentArity.OneOrMore };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a vssm detection .ckpt", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "output folder (default: beside each image)" };
        var scoreThr = new Option<double?>("--score-threshold") { Description = "draw detections scoring at least this (default 0.3)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        cmd.Arguments.Add(images);
        foreach (var o in new Option[] { checkpoint, output, scoreThr }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            var files = p.GetValue(images)!;
            foreach (var f in files)
                if (!File.Exists(f)) throw new FileNotFoundException($"image '{f}' does not exist.", f);
            double thr = p.GetValue(scoreThr) ?? 0.3;
            if (thr is < 0 or > 1) throw new ArgumentException($"--score-threshold {thr}: expected a score in [0, 1].", "score-threshold");
            using var net = DetectionPredictor.Open(p.GetValue(checkpoint)!, dev);
            if (p.GetValue(output) is { } o) Directory.CreateDirectory(o);
            int failed = 0;
            foreach (var f in files)
            {
                VisionSsm.Data.ImageSample image;
                DetectionList dets;
                try { (image, dets) = net.Detect(f); }
                catch (VisionSsm.Data.ImageReadException e) { ctx.Error.WriteLine($"error: {e.Message}"); failed++; continue; }
                string dir = p.GetValue(output) ?? Path.GetDirectoryName(Path.GetFullPath(f))!;
                string outPath = Path.Combine(dir, Path.GetFileNameWithoutExtension(f) + "_det.png");
                DetectionImages.Save(outPath, image, dets, net.Classes, thr);
                var shown = Enumerable.Range(0, dets.Count).Where(i => dets.Scores[i] >= thr)
                    .Select(i => $"{net.Classes[(int)dets.Labels[i]]} {dets.Scores[i]:0.00} [{string.Join(", ", dets.Boxes.Skip(4 * i).Take(4).Select(v => v.ToString("0")))}]");
                ctx.Out.WriteLine($"{f}: {outPath} ({dets.Count} detections; ≥ {thr}: {string.Join("; ", shown)})");
            }
            return failed == 0 ? 0 : 1;
        }));
        return cmd;
    }
}
