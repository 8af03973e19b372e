using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Data;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Models;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// The segmentation training loop (mmseg's <c>IterBasedTrainLoop</c>): per iteration a seeded batch, main + auxiliary
/// cross entropy (<see cref="SegmentationLoss"/>), AdamW with the recipe's no-decay groups and optional layer-wise decay
/// (<see cref="SegmentationOptimizer"/>), warmup + poly lr (<see cref="WarmupPolySchedule"/>), gradient clipping and
/// EMA (<see cref="ModelEma"/>); every <c>EvalInterval</c> iterations an evaluation on the test split (mIoU), metrics,
/// curves, a prediction grid and atomic checkpoints (<see cref="Checkpoint"/>: last and best by mIoU) in the run folder
/// (<see cref="RunFolder"/>). One dispose scope per step. Repeatable: batches and dropout derive from (seed, iteration),
/// so <see cref="Resume"/> continues exactly.
/// </summary>
public sealed class SegmentationTrainer : IDisposable
{
    readonly SegmentationEntry entry;
    readonly SegmentationData data;
    readonly SegmentationModel model;
    readonly ModelEma? ema;
    readonly SegmentationOptimizer optimizer;
    readonly WarmupPolySchedule schedule;
    readonly SegmentationBatcher batcher;
    readonly List<SegmentationMetricsRow> history = new();
    readonly Device device;
    readonly int crop;
    long step;
    double bestMIoU = double.NegativeInfinity;
    long bestStep;
    double lossSum;
    long lossCount;
    const long TorchStream = 17;

    public SegmentationTrainConfig Config { get; }
    public RunFolder Folder { get; }
    public SegmentationModel Model => model;
    public SegmentationData Data => data;
    public int CropSize => crop;
    public string GridPath => Path.Combine(Folder.Path, "predictions.png");

    /// <summary>Shards of the data-parallel step (Training/DataParallelStep) to use when it applies; null = one per
    /// thread (<see cref="TorchRuntime.Threads"/>). Set before <see cref="Run"/>.</summary>
    public int? DataParallelShards { get; set; }

    /// <summary>How the last step ran: the number of concurrent shards, 1 for the serial step, 0 before the first step.</summary>
    public int StepShards { get; private set; }

    public event Action<SegmentationProgress>? Progress;
    public event Action<SegmentationMetricsRow, SegmentationEvalResult>? Evaluated;
    public event Action<string>? Log;

    SegmentationTrainer(SegmentationTrainConfig config, RunFolder run, SegmentationData data, Checkpoint? resume, Action<string>? log)
    {
        config.Validate();
        (Config, Folder, this.data) = (config, run, data);
        entry = SegmentationZoo.Get(config.Model);
        if (data.Train.Count < config.BatchSize)
            throw new ArgumentException($"--batch-size {config.BatchSize} is larger than the training set ({data.Train.Count} images).", "batch-size");
        device = Trainer.ParseDevice(config.Device);
        if (config.Threads != 0) TorchRuntime.SetThreads(config.Threads);
        random.manual_seed(config.Seed);
        crop = config.CropSize ?? entry.CropSize;
        var options = new ModelOptions(data.Classes.Count, data.Channels, crop, config.DropPath, device);
        model = entry.Create(options);
        if (config.BackboneCheckpoint is { } ckptPath && resume is null)
        {
            if (!File.Exists(ckptPath)) throw new FileNotFoundException($"--backbone-checkpoint '{ckptPath}' does not exist.", ckptPath);
            var sd = CheckpointModel.ReadStateDict(ckptPath);
            try
            {
                var diff = model.LoadBackboneWeights(sd);
                log?.Invoke($"backbone weights from {ckptPath}: {diff}");
            }
            finally { foreach (var t in sd.Values) t.Dispose(); }
        }
        if (config.EmaDecay > 0) ema = new ModelEma(model, entry.Create(options with { DropPathRate = 0 }), config.EmaDecay);
        optimizer = SegmentationOptimizer.Create(model, config);
        schedule = new WarmupPolySchedule(config.Lr, config.Iterations, config.WarmupIters, config.WarmupRatio, config.PolyPower, config.MinLr);
        batcher = new SegmentationBatcher(data.Train, config, crop, data.Mean, data.Std);
        if (resume is not null) Restore(resume);
    }

    /// <summary>Starts a run in <paramref name="run"/>: writes config.json, then trains from iteration 0.</summary>
    public static SegmentationTrainer Start(SegmentationTrainConfig config, RunFolder run, Action<string>? log = null)
    {
        config.Validate();
        var data = SegmentationRunData.Open(config);
        Directory.CreateDirectory(run.Path);
        var trainer = new SegmentationTrainer(config, run, data, null, log);
        AtomicFile.WriteAllText(run.ConfigPath, config.ToJson());
        return trainer;
    }

    /// <summary>The recipe stored in a run's last checkpoint.</summary>
    public static SegmentationTrainConfig ReadRunConfig(RunFolder run)
    {
        using var ckpt = Checkpoint.Load(run.LastCheckpointPath);
        return ckpt.Info.TaskConfig is { } json ? SegmentationTrainConfig.FromJson(json)
            : throw new InvalidDataException($"'{run.LastCheckpointPath}' is not a segmentation checkpoint (no segmentation recipe in it).");
    }

    /// <summary>Continues the run in <paramref name="run"/> from last.ckpt; <paramref name="overrides"/> may change only threads, length and max steps.</summary>
    public static SegmentationTrainer Resume(RunFolder run, Func<SegmentationTrainConfig, SegmentationTrainConfig>? overrides = null, Action<string>? log = null)
    {
        using var ckpt = Checkpoint.Load(run.LastCheckpointPath);
        var stored = ckpt.Info.TaskConfig is { } json ? SegmentationTrainConfig.FromJson(json)
            : throw new InvalidDataException($"'{run.LastCheckpointPath}' is not a segmentation checkpoint.");
        var config = overrides?.Invoke(stored) ?? stored;
        if (config.Iterations < ckpt.Info.Step)
            throw new ArgumentException($"--iters: the run is at iteration {ckpt.Info.Step}; give at least that many to continue it.", "iters");
        var data = SegmentationRunData.Open(config, ckpt.Info.Preprocessing.Mean, ckpt.Info.Preprocessing.Std);
        var trainer = new SegmentationTrainer(config, run, data, ckpt, log);
        if (config.Iterations != stored.Iterations) AtomicFile.WriteAllText(run.ConfigPath, config.ToJson());
        return trainer;
    }

    void Restore(Checkpoint ckpt)
    {
        Checkpoint.LoadInto(model, ckpt.Model);
        if (ema is not null)
        {
            if (ckpt.Ema is null) throw new InvalidDataException("the checkpoint has no EMA weights but the run uses an EMA.");
            Checkpoint.LoadInto(ema.Module, ckpt.Ema, "checkpoint's EMA");
        }
        if (ckpt.Optimizer is not null) OptimizerState.Load(optimizer.Optimizer, ckpt.Optimizer);
        if (ckpt.TorchRngState is not null) random.set_rng_state(ckpt.TorchRngState);
        step = ckpt.Info.Step;
        (bestMIoU, bestStep) = (ckpt.Info.BestEpoch > 0 ? ckpt.Info.BestTop1 : double.NegativeInfinity, ckpt.Info.BestEpoch);
        (lossSum, lossCount) = (ckpt.Info.EpochLossSum, ckpt.Info.EpochSeen);
        history.AddRange(ReadMetrics(Folder).Where(r => r.Iteration <= step));
    }

    string MetricsJsonl => Path.Combine(Folder.Path, "metrics.jsonl");

    public static IReadOnlyList<SegmentationMetricsRow> ReadMetrics(RunFolder run) => JsonLines.Read<SegmentationMetricsRow>(run.MetricsJsonlPath);

    /// <summary>Trains to <c>Iterations</c> (or <c>MaxSteps</c>, or cancellation: then last.ckpt is saved and the run can resume).</summary>
    public SegmentationTrainResult Run(CancellationToken cancel = default)
    {
        SegmentationEvalResult? lastTest = null, lastEma = null;
        long limit = Math.Min(Config.Iterations, Config.MaxSteps ?? long.MaxValue);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        int shards = DataParallelStep.ShardCount(model, Config.BatchSize, DataParallelShards ?? TorchRuntime.Threads, device, KernelOptions.Current);
        if (shards > 1) Log?.Invoke($"data-parallel step: {shards} shards of the batch side by side (--kernels dataparallel=off for the serial step)");
        var clock = Stopwatch.StartNew();
        var sinceEval = Stopwatch.StartNew();
        long imagesSinceEval = 0, stepsThisSession = 0;
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        model.train();
        while (step < Config.Iterations)
        {
            if (cancel.IsCancellationRequested || step >= limit)
            {
                SaveCheckpoint(Folder.LastCheckpointPath);
                Log?.Invoke(cancel.IsCancellationRequested
                    ? $"interrupted: saved {Folder.LastCheckpointPath} at iteration {step}; continue with --resume {Folder.Path}"
                    : $"stopped after {step} iterations (--max-steps); saved {Folder.LastCheckpointPath}");
                return new SegmentationTrainResult(false, history, lastTest, lastEma, Folder.Path, step);
            }
            using (var scope = NewDisposeScope())
            {
                using var batch = batcher.Train(step, device);
                int stepSeed = SeedMixer.Mix(Config.Seed, step, 0, TorchStream);
                random.manual_seed(stepSeed);
                double lr = schedule.At(step);
                optimizer.SetLearningRate(lr);
                double value;
                if (shards > 1)
                {
                    // Each shard's generator is seeded from the step's seed; the masks are split with the images.
                    value = DataParallelStep.ComputeGradients(parameters, batch.Size, shards, stepSeed, (start, n) =>
                    {
                        var (m, a) = model.ForwardTrain(batch.Images.narrow(0, start, n));
                        return (SegmentationLoss.Total(m, a, batch.Masks.narrow(0, start, n), Config.AuxWeight), []);
                    }).Loss;
                    if (!double.IsFinite(value)) throw new NonFiniteLossException(step, 0, 0, value);
                    optimizer.StepWithGradients(parameters, Config.ClipGrad);
                }
                else
                {
                    var (main, aux) = model.ForwardTrain(batch.Images);
                    var loss = SegmentationLoss.Total(main, aux, batch.Masks, Config.AuxWeight);
                    value = loss.item<float>();
                    if (!double.IsFinite(value)) throw new NonFiniteLossException(step, 0, 0, value);
                    optimizer.Step(loss, parameters, Config.ClipGrad);
                }
                StepShards = shards;
                ema?.Update();
                lossSum += value;
                lossCount++;
                imagesSinceEval += batch.Size;
                step++;
                stepsThisSession++;
                if (Progress is not null)
                {
                    double secPerStep = clock.Elapsed.TotalSeconds / stepsThisSession;
                    Progress(new SegmentationProgress(step, Config.Iterations, lossSum / lossCount, lr,
                        imagesSinceEval / Math.Max(sinceEval.Elapsed.TotalSeconds, 1e-9), TimeSpan.FromSeconds(secPerStep * Math.Max(0, Math.Min(limit, Config.Iterations) - step))));
                }
            }
            if (step % Config.EvalInterval == 0 || step == Config.Iterations)
            {
                double trainSeconds = sinceEval.Elapsed.TotalSeconds;
                double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
                lastTest = Evaluate(model, cancel);
                lastEma = ema is null ? null : Evaluate((SegmentationModel)ema.Module, cancel);
                var row = new SegmentationMetricsRow(step, schedule.At(step - 1), lossSum / Math.Max(lossCount, 1), 100 * lastTest.Scores.MIoU,
                    100 * lastTest.Scores.AAcc, 100 * lastTest.Scores.MAcc, lastEma is null ? null : 100 * lastEma.Scores.MIoU, trainSeconds,
                    imagesSinceEval / Math.Max(trainSeconds, 1e-9), lastTest.Seconds, Environment.WorkingSet, cpuSeconds);
                history.Add(row);
                double score = Math.Max(row.MIoU, row.EmaMIoU ?? double.NegativeInfinity);
                bool best = score > bestMIoU;
                if (best) (bestMIoU, bestStep) = (score, step);
                (lossSum, lossCount) = (0, 0);
                SaveCheckpoint(Folder.LastCheckpointPath);
                if (best) AtomicFile.Copy(Folder.LastCheckpointPath, Folder.BestCheckpointPath);
                WriteOutputs();
                Evaluated?.Invoke(row, lastTest);
                imagesSinceEval = 0;
                sinceEval.Restart();
                cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
                model.train();
            }
        }
        lastTest ??= Evaluate(model, cancel);
        if (ema is not null) lastEma ??= Evaluate((SegmentationModel)ema.Module, cancel);
        return new SegmentationTrainResult(true, history, lastTest, lastEma, Folder.Path, step);
    }

    /// <summary>Evaluates <paramref name="net"/> on the test split (the config's limit and test mode).</summary>
    public SegmentationEvalResult Evaluate(SegmentationModel net, CancellationToken cancel = default) =>
        SegmentationEvaluation.Evaluate(net, data.Test, data.Mean, data.Std, Math.Max(Config.BatchSize, 16), Config.EvalLimit,
            SegmentationPredictor.For(net, Config.TestMode, crop, Config.SlideStride), device, cancel);

    void WriteOutputs()
    {
        AtomicFile.WriteAllLines(Folder.MetricsCsvPath, history.Select(r => r.ToCsv()).Prepend(string.Join(",", SegmentationMetricsRow.Columns)));
        JsonLines.Write(MetricsJsonl, history);
        try
        {
            var series = new List<CurveSeries>
            {
                new("train loss", history.Select(r => r.TrainLoss).ToArray(), false),
                new("test mIoU", history.Select(r => r.MIoU).ToArray(), true),
                new("test aAcc", history.Select(r => r.AAcc).ToArray(), true),
            };
            if (ema is not null) series.Add(new("EMA mIoU", history.Select(r => r.EmaMIoU ?? double.NaN).ToArray(), true));
            TrainingCurves.Save(Folder.CurvesPath, $"{Config.Model} — {Path.GetFileName(Folder.Path)}", "iteration",
                history.Select(r => (double)r.Iteration).ToArray(), series, "loss", "mIoU / aAcc (%)");
            WriteGrid(GridPath, 6);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException)
        {
            Log?.Invoke($"could not draw the run's PNGs: {e.Message}");
        }
    }

    /// <summary>Input / ground truth / prediction for the first <paramref name="count"/> test images.</summary>
    public void WriteGrid(string path, int count)
    {
        var samples = Enumerable.Range(0, Math.Min(count, data.Test.Count)).Select(data.Test.Get).ToList();
        var predictor = SegmentationPredictor.For(model, Config.TestMode, crop, Config.SlideStride);
        var labels = SegmentationPredictor.Labels(model, samples, data.Mean, data.Std, predictor, device);
        const int zoom = 3;   // the 64-px canvases are too small to read at 1:1
        var rows = samples.Select((s, r) => (IReadOnlyList<ImageSample>)
        [
            MaskImages.Zoom(new ImageSample(s.Pixels, s.Channels, s.Height, s.Width, 0), zoom),
            MaskImages.Zoom(MaskImages.Colorize(s.Mask, s.Height, s.Width), zoom),
            MaskImages.Zoom(MaskImages.Colorize(labels[r], s.Height, s.Width), zoom),
        ]).ToList();
        ImageDecoder.Save(MaskImages.Tile(rows), path);
    }

    CheckpointInfo Info() => new()
    {
        ModelName = Config.Model,
        Classes = data.Classes,
        Preprocessing = new VisionSsm.Training.Preprocessing(data.Channels, crop, data.Mean, data.Std),
        Config = new TrainConfig { Model = Config.Model, Data = Config.Data, BatchSize = Config.BatchSize, Lr = Config.Lr, WeightDecay = Config.WeightDecay, Seed = Config.Seed },
        Step = step, Epoch = history.Count, EpochLossSum = lossSum, EpochSeen = lossCount,
        BestTop1 = double.IsFinite(bestMIoU) ? bestMIoU : 0, BestEpoch = (int)Math.Min(bestStep, int.MaxValue),
        Seed = Config.Seed, SavedUtc = DateTime.UtcNow, TaskConfig = Config.ToJson(),
    };

    void SaveCheckpoint(string path)
    {
        using var ckpt = new Checkpoint
        {
            Info = Info(),
            Model = Checkpoint.StateOf(model),
            Ema = ema is null ? null : Checkpoint.StateOf(ema.Module),
            Optimizer = OptimizerState.Save(optimizer.Optimizer),
            TorchRngState = random.get_rng_state(),
        };
        ckpt.Save(path);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        ema?.Dispose();
        model.Dispose();
    }
}
