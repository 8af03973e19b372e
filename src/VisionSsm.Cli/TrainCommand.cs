using System.CommandLine;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm train`: timm's train.py. With no options: the embedded default (Fashion-MNIST + the default nano model).</summary>
static class TrainCommand
{
    public static Command Create(CliContext ctx)
    {
        var d = new TrainConfig();
        var cmd = new Command("train", "Train a zoo model (default: the embedded Fashion-MNIST recipe) and write a run folder.");
        var model = new Option<string>("--model") { Description = $"zoo model name (default {d.Model}; see `vssm models`)" };
        var data = new Option<string>("--data") { Description = $"data directory with idx files (default: Debian's Fashion-MNIST in /usr/share/datasets/fashion-mnist)" };
        var epochs = new Option<int?>("--epochs") { Description = $"epochs (default {d.Epochs})" };
        var batch = new Option<int?>("--batch-size", "-b") { Description = $"batch size (default {d.BatchSize})" };
        var lr = new Option<double?>("--lr") { Description = $"peak learning rate after warmup (default {d.Lr})" };
        var minLr = new Option<double?>("--min-lr") { Description = $"learning rate at the end of the cosine (default {d.MinLr})" };
        var wd = new Option<double?>("--weight-decay") { Description = $"AdamW weight decay (default {d.WeightDecay}; none for 1-D, biases, pos_embed, cls_token, D)" };
        var warmup = new Option<double?>("--warmup-epochs") { Description = $"linear warmup length in epochs (default {d.WarmupEpochs})" };
        var dropPath = new Option<double?>("--drop-path") { Description = $"stochastic depth rate (default {d.DropPath})" };
        var ema = new Option<double?>("--ema-decay") { Description = "EMA decay, e.g. 0.999 (default 0 = off)" };
        var clip = new Option<double?>("--clip-grad") { Description = "max gradient norm (default 0 = off)" };
        var smoothing = new Option<double?>("--smoothing") { Description = $"label smoothing (default {d.Smoothing})" };
        var mixup = new Option<double?>("--mixup") { Description = "Mixup alpha (default 0 = off)" };
        var cutmix = new Option<double?>("--cutmix") { Description = "CutMix alpha (default 0 = off)" };
        var aa = new Option<string>("--aa") { Description = "RandAugment policy, e.g. rand-m9-mstd0.5-inc1 (default none)" };
        var reprob = new Option<double?>("--reprob") { Description = "random erasing probability (default 0)" };
        var hflip = new Option<bool?>("--hflip") { Description = $"random horizontal flip (default {d.HFlip})" };
        var crop = new Option<int?>("--crop-padding") { Description = $"random crop with this zero padding (default {d.CropPadding}; 0 = off)" };
        var imgSize = new Option<int?>("--img-size") { Description = "input size (default: the data's size)" };
        var seed = new Option<int?>("--seed") { Description = $"seed of every random stream (default {d.Seed})" };
        var output = new Option<string>("--output", "-o") { Description = "run folder (default runs/<time>-<model>)" };
        var resume = new Option<string>("--resume") { Description = "continue the run in this folder (or its last.ckpt) where it stopped" };
        var maxSteps = new Option<long?>("--max-steps") { Description = "stop (and checkpoint) after this many steps in total" };
        var ckptEvery = new Option<int?>("--checkpoint-every") { Description = "also write last.ckpt every N steps (default 0: at epoch ends only)" };
        var logInterval = new Option<int?>("--log-interval") { Description = $"plain-output progress line every N steps (default {d.LogInterval})" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, data, epochs, batch, lr, minLr, wd, warmup, dropPath, ema, clip, smoothing, mixup, cutmix, aa, reprob,
                     hflip, crop, imgSize, seed, output, resume, maxSteps, logInterval, ckptEvery })
            cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            OpenMpPolicy.SetSpinCountBeforeLibtorchLoads(OpenMpPolicy.TrainingSpinCount); // before Apply loads libtorch
            CommonOptions.Apply(p, threads, device);
            Trainer trainer;
            if (p.GetValue(resume) is { } resumePath)
            {
                // The recipe lives in the checkpoint; only the length (as timm's --epochs on resume), threads and max steps change.
                var fixedOptions = new Option[] { model, data, batch, lr, minLr, wd, warmup, dropPath, ema, clip, smoothing, mixup, cutmix, aa,
                                                  reprob, hflip, crop, imgSize, seed, output };
                if (fixedOptions.FirstOrDefault(o => p.GetResult(o) is { Implicit: false }) is { } given)
                    throw new ArgumentException($"{given.Name} cannot change on --resume: the run continues with the recipe in its checkpoint " +
                                                "(only --epochs, --max-steps, --threads, --log-interval and --checkpoint-every may be given).", given.Name);
                var run = RunFolder.OpenExisting(resumePath);
                var info = Trainer.ReadRunInfo(run);
                var config = info.Config with
                {
                    Epochs = p.GetValue(epochs) ?? info.Config.Epochs, Threads = p.GetValue(threads), MaxSteps = p.GetValue(maxSteps),
                    LogInterval = p.GetValue(logInterval) ?? info.Config.LogInterval,
                    CheckpointEvery = p.GetValue(ckptEvery) ?? info.Config.CheckpointEvery,
                };
                var entry = ModelZoo.Get(info.ModelName);
                trainer = Trainer.Resume(run, entry, RunData.Open(config, info.Preprocessing), config);
                ctx.Out.WriteLine($"resuming {run.Path}: {info.ModelName}, epoch {info.Epoch + 1}/{config.Epochs}, step {info.Step}");
            }
            else
            {
                var config = d with
                {
                    Model = p.GetValue(model) ?? d.Model,
                    Data = p.GetValue(data),
                    Epochs = p.GetValue(epochs) ?? d.Epochs,
                    BatchSize = p.GetValue(batch) ?? d.BatchSize,
                    Lr = p.GetValue(lr) ?? d.Lr,
                    MinLr = p.GetValue(minLr) ?? d.MinLr,
                    WeightDecay = p.GetValue(wd) ?? d.WeightDecay,
                    WarmupEpochs = p.GetValue(warmup) ?? d.WarmupEpochs,
                    DropPath = p.GetValue(dropPath) ?? d.DropPath,
                    EmaDecay = p.GetValue(ema) ?? d.EmaDecay,
                    ClipGrad = p.GetValue(clip) ?? d.ClipGrad,
                    Smoothing = p.GetValue(smoothing) ?? d.Smoothing,
                    Mixup = p.GetValue(mixup) ?? d.Mixup,
                    CutMix = p.GetValue(cutmix) ?? d.CutMix,
                    AutoAugment = p.GetValue(aa) ?? d.AutoAugment,
                    ReProb = p.GetValue(reprob) ?? d.ReProb,
                    HFlip = p.GetValue(hflip) ?? d.HFlip,
                    CropPadding = p.GetValue(crop) ?? d.CropPadding,
                    ImageSize = p.GetValue(imgSize) ?? d.ImageSize,
                    Seed = p.GetValue(seed) ?? d.Seed,
                    Threads = p.GetValue(threads),
                    Device = p.GetValue(device) ?? d.Device,
                    MaxSteps = p.GetValue(maxSteps),
                    LogInterval = p.GetValue(logInterval) ?? d.LogInterval,
                    CheckpointEvery = p.GetValue(ckptEvery) ?? d.CheckpointEvery,
                };
                config.Validate();
                var entry = ModelZoo.Get(config.Model);
                var trainingData = RunData.Open(config);
                RunFolder run;
                if (p.GetValue(output) is { } outDir)
                {
                    run = new RunFolder(outDir);
                    if (File.Exists(run.LastCheckpointPath))
                        throw new ArgumentException($"--output '{outDir}' already holds a run (last.ckpt); continue it with --resume {outDir} or choose another folder.", "output");
                }
                else run = RunFolder.CreateNew("runs", entry.Name);
                trainer = Trainer.Start(config, entry, trainingData, run);
                ctx.Out.WriteLine($"training {entry.Name} ({trainer.Model.parameters().Sum(t => t.numel()) / 1e6:F3} M params) on " +
                                  $"{trainingData.Train.Count} images, {trainingData.Classes.Count} classes, " +
                                  $"{trainingData.Preprocessing.Channels}×{trainingData.Preprocessing.ImageSize}×{trainingData.Preprocessing.ImageSize}, " +
                                  $"{config.Epochs} epochs × {trainer.StepsPerEpoch} steps, batch {config.BatchSize}, threads {Runtime.TorchRuntime.Threads} → {run.Path}");
            }
            using (trainer)
            {
                var result = TrainProgressView.Run(trainer, ctx);
                if (!result.Completed) return ctx.Cancellation.IsCancellationRequested ? 130 : 0;
                ctx.Out.WriteLine();
                ctx.Out.Write(result.FinalTest!.Format("test (final model)"));
                if (result.FinalEmaTest is { } e) ctx.Out.WriteLine($"test (EMA): top-1 {e.Top1:F2}%  top-5 {e.Top5:F2}%");
                if (result.SkippedItems > 0) ctx.Out.WriteLine($"skipped {result.SkippedItems} unreadable items");
                ctx.Out.WriteLine($"run folder: {result.RunPath} (config.json, metrics.csv, metrics.jsonl, curves.png, last.ckpt, best.ckpt)");
                return 0;
            }
        }));
        return cmd;
    }
}
