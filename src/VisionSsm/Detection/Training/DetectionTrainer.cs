using System.Diagnostics;
using TorchSharp;
using VisionSsm.Data;
using VisionSsm.Detection.Coco;
using VisionSsm.Detection.Data;
using VisionSsm.Detection.Inference;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Segmentation.Training;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Training;

/// <summary>
/// The detection training loop (mmdetection's <c>EpochBasedTrainLoop</c>, stepped per iteration): per iteration a
/// seeded batch (keep-ratio resize, flip, normalise, pad to the size divisor), the detector's named losses summed,
/// AdamW with no decay on norms and biases (<see cref="SegmentationOptimizer"/>), warmup + step decay by epoch
/// (<see cref="WarmupMultiStepSchedule"/>), optional gradient clipping; every <c>EvalInterval</c> epochs and at the end
/// a COCO evaluation of the test split (box and mask AP), metrics, curves, a picture of predictions, the detections as
/// COCO results and atomic checkpoints (last; best by box AP) in the run folder. One dispose scope per step.
/// Repeatable: batches and the detector's sampling derive from (seed, iteration), so <see cref="Resume"/> continues
/// exactly. An epoch is ⌈N / batch⌉ iterations over seeded permutations of the N training images.
/// </summary>
public sealed class DetectionTrainer : IDisposable
{
    readonly DetectionData data;
    readonly IDetector detector;
    readonly SegmentationOptimizer optimizer;
    readonly WarmupMultiStepSchedule schedule;
    readonly Data.Transforms.DetectionPipeline pipeline;
    readonly SeededOrder order;
    readonly List<DetectionMetricsRow> history = new();
    readonly Device device;
    readonly Dictionary<string, double> lossSums = new(StringComparer.Ordinal);
    long step;
    double lossSum;
    long lossCount, componentCount;
    double bestAp = double.NegativeInfinity;
    int bestEpoch;
    const long TorchStream = 23, SampleStream = 29, OrderStream = 31;

    public DetectionTrainConfig Config { get; }
    public RunFolder Folder { get; }
    public IDetector Detector => detector;
    public DetectionData Data => data;
    public long StepsPerEpoch { get; }
    public long TotalSteps => StepsPerEpoch * Config.Epochs;
    public string GridPath => Path.Combine(Folder.Path, "predictions.png");
    public string ResultsPath => Path.Combine(Folder.Path, "detections.json");

    public event Action<DetectionProgress>? Progress;
    public event Action<DetectionMetricsRow, DetectionEvalResult>? Evaluated;
    public event Action<string>? Log;

    DetectionTrainer(DetectionTrainConfig config, RunFolder run, DetectionData data, Checkpoint? resume)
    {
        config.Validate();
        (Config, Folder, this.data) = (config, run, data);
        device = Trainer.ParseDevice(config.Device);
        if (config.Threads != 0) TorchRuntime.SetThreads(config.Threads);
        random.manual_seed(config.Seed);
        detector = DetectorFactory.Create(config.Model, new ModelOptions(data.Classes.Count, data.Channels, config.ScaleShort.Max(), Device: device));
        StepsPerEpoch = (data.Train.Count + config.BatchSize - 1) / config.BatchSize;
        optimizer = SegmentationOptimizer.Create(detector.Module, config.AdamW());
        schedule = new WarmupMultiStepSchedule(config.Lr, StepsPerEpoch, config.WarmupIters, config.WarmupRatio, config.Milestones, config.Gamma);
        pipeline = config.Pipeline();
        order = new SeededOrder(data.Train.Count, config.Seed, OrderStream);
        if (resume is not null) Restore(resume);
    }

    /// <summary>Starts a run in <paramref name="run"/>: writes (or finds) the data, config.json, then trains from iteration 0.</summary>
    public static DetectionTrainer Start(DetectionTrainConfig config, RunFolder run, Action<string>? log = null)
    {
        config.Validate();
        var data = DetectionRunData.Open(config, log: log);
        Directory.CreateDirectory(run.Path);
        var trainer = new DetectionTrainer(config, run, data, null);
        AtomicFile.WriteAllText(run.ConfigPath, config.ToJson());
        return trainer;
    }

    /// <summary>The recipe stored in a detection checkpoint.</summary>
    public static DetectionTrainConfig ConfigOf(Checkpoint ckpt, string path) =>
        ckpt.Info.TaskConfig is { } json && json.Contains("\"ScaleLong\"", StringComparison.Ordinal) ? DetectionTrainConfig.FromJson(json)
            : throw new InvalidDataException($"'{path}' is not a detection checkpoint (no detection recipe in it).");

    /// <summary>Continues the run in <paramref name="run"/> from last.ckpt; <paramref name="overrides"/> may change only epochs, threads, max steps and logging.</summary>
    public static DetectionTrainer Resume(RunFolder run, Func<DetectionTrainConfig, DetectionTrainConfig>? overrides = null, Action<string>? log = null)
    {
        using var ckpt = Checkpoint.Load(run.LastCheckpointPath);
        var stored = ConfigOf(ckpt, run.LastCheckpointPath);
        var config = overrides?.Invoke(stored) ?? stored;
        var data = DetectionRunData.Open(config, ckpt.Info.Preprocessing.Mean, ckpt.Info.Preprocessing.Std, log);
        var trainer = new DetectionTrainer(config, run, data, ckpt);
        if (trainer.TotalSteps < ckpt.Info.Step)
            throw new ArgumentException($"--epochs: the run is at iteration {ckpt.Info.Step} (epoch {ckpt.Info.Epoch}); give at least that many epochs to continue it.", "epochs");
        if (config.Epochs != stored.Epochs) AtomicFile.WriteAllText(run.ConfigPath, config.ToJson());
        return trainer;
    }

    void Restore(Checkpoint ckpt)
    {
        Checkpoint.LoadInto(detector.Module, ckpt.Model);
        if (ckpt.Optimizer is not null) OptimizerState.Load(optimizer.Optimizer, ckpt.Optimizer);
        if (ckpt.TorchRngState is not null) random.set_rng_state(ckpt.TorchRngState);
        step = ckpt.Info.Step;
        (bestAp, bestEpoch) = (ckpt.Info.BestEpoch > 0 ? ckpt.Info.BestTop1 : double.NegativeInfinity, ckpt.Info.BestEpoch);
        (lossSum, lossCount) = (ckpt.Info.EpochLossSum, ckpt.Info.EpochSeen);
        history.AddRange(ReadMetrics(Folder).Where(r => r.Iteration <= step));
    }

    public static IReadOnlyList<DetectionMetricsRow> ReadMetrics(RunFolder run) => JsonLines.Read<DetectionMetricsRow>(run.MetricsJsonlPath);

    /// <summary>The training batch of iteration <paramref name="s"/> (samples decoded and transformed in parallel).</summary>
    public DetectionBatch Batch(long s)
    {
        var idx = order.Indices(s, Config.BatchSize);
        var samples = new DetectionSample[idx.Length];
        try
        {
            Parallel.For(0, idx.Length, k => samples[k] = pipeline.Train(data.Train.Get(idx[k]), SeedMixer.Rng(Config.Seed, s, k, SampleStream)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // A bad file surfaces as its own error (naming the path), not as a parallel-loop wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        return DetectionBatch.Collate(samples, data.Mean, data.Std, Config.SizeDivisor, device);
    }

    /// <summary>Trains all epochs (or to <c>MaxSteps</c>, or cancellation: then last.ckpt is saved and the run can resume).</summary>
    public DetectionTrainResult Run(CancellationToken cancel = default)
    {
        DetectionEvalResult? lastTest = null;
        long total = TotalSteps, limit = Math.Min(total, Config.MaxSteps ?? long.MaxValue);
        var parameters = detector.Module.parameters().Where(p => p.requires_grad).ToList();
        var clock = Stopwatch.StartNew();
        var sinceEval = Stopwatch.StartNew();
        long imagesSinceEval = 0, stepsThisSession = 0;
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        detector.Module.train();
        while (step < total)
        {
            if (cancel.IsCancellationRequested || step >= limit)
            {
                SaveCheckpoint(Folder.LastCheckpointPath);
                Log?.Invoke(cancel.IsCancellationRequested
                    ? $"interrupted: saved {Folder.LastCheckpointPath} at iteration {step}; continue with --resume {Folder.Path}"
                    : $"stopped after {step} iterations (--max-steps); saved {Folder.LastCheckpointPath}");
                return new DetectionTrainResult(false, history, lastTest, Folder.Path, step);
            }
            double lr = schedule.At(step);
            using (var scope = NewDisposeScope())
            {
                using var batch = Batch(step);
                random.manual_seed(SeedMixer.Mix(Config.Seed, step, 0, TorchStream));
                optimizer.SetLearningRate(lr);
                var losses = detector.Losses(batch.Images, batch.Metas, batch.Targets);
                if (losses.Count == 0) throw new InvalidOperationException($"detector '{Config.Model}' returned no losses.");
                Tensor? loss = null;
                foreach (var (name, value) in losses)
                {
                    loss = loss is null ? value : loss.Plus(value);
                    lossSums[name] = lossSums.GetValueOrDefault(name) + value.item<float>();
                }
                double v = loss!.item<float>();
                if (!double.IsFinite(v)) throw new NonFiniteLossException(step, (int)(step / StepsPerEpoch), (int)(step % StepsPerEpoch), v);
                optimizer.Step(loss, parameters, Config.ClipGrad);
                (lossSum, lossCount, componentCount) = (lossSum + v, lossCount + 1, componentCount + 1);
                (imagesSinceEval, step, stepsThisSession) = (imagesSinceEval + batch.Size, step + 1, stepsThisSession + 1);
            }
            if (Progress is not null)
            {
                double secPerStep = clock.Elapsed.TotalSeconds / stepsThisSession;
                Progress(new DetectionProgress(step, total, (int)((step - 1) / StepsPerEpoch) + 1, lossSum / lossCount, MeanLosses(), lr,
                    imagesSinceEval / Math.Max(sinceEval.Elapsed.TotalSeconds, 1e-9), TimeSpan.FromSeconds(secPerStep * Math.Max(0, limit - step))));
            }
            bool epochEnd = step % StepsPerEpoch == 0;
            int epoch = (int)(step / StepsPerEpoch);
            if (step == total || epochEnd && epoch % Config.EvalInterval == 0)
            {
                double trainSeconds = sinceEval.Elapsed.TotalSeconds;
                double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
                lastTest = Evaluate(cancel);
                var row = new DetectionMetricsRow(epoch, step, schedule.At(step - 1), lossSum / Math.Max(lossCount, 1), MeanLosses(),
                    Percent(lastTest.Box.Stats), lastTest.Mask is null ? null : Percent(lastTest.Mask.Stats), trainSeconds,
                    imagesSinceEval / Math.Max(trainSeconds, 1e-9), lastTest.Seconds, Environment.WorkingSet, cpuSeconds);
                history.Add(row);
                bool best = row.Box[0] > bestAp;
                if (best) (bestAp, bestEpoch) = (row.Box[0], Math.Max(epoch, 1));
                (lossSum, lossCount, componentCount) = (0, 0, 0);
                lossSums.Clear();
                SaveCheckpoint(Folder.LastCheckpointPath);
                if (best) AtomicFile.Copy(Folder.LastCheckpointPath, Folder.BestCheckpointPath);
                CocoWriter.WriteResults(ResultsPath, lastTest.Detections);
                WriteOutputs();
                Evaluated?.Invoke(row, lastTest);
                imagesSinceEval = 0;
                sinceEval.Restart();
                cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
                detector.Module.train();
            }
        }
        lastTest ??= Evaluate(cancel);
        return new DetectionTrainResult(true, history, lastTest, Folder.Path, step);
    }

    static double[] Percent(double[] stats) => stats.Select(s => s < 0 ? s : 100 * s).ToArray();

    // Per-loss means cover the steps of this session since the last evaluation (the checkpoint keeps only the total).
    Dictionary<string, double> MeanLosses() => lossSums.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(componentCount, 1), StringComparer.Ordinal);

    /// <summary>COCO evaluation of the current detector on the test split (the config's limit).</summary>
    public DetectionEvalResult Evaluate(CancellationToken cancel = default) =>
        DetectionEvaluation.Evaluate(detector, data.Test, pipeline, data.Mean, data.Std, Config.SizeDivisor, Math.Max(Config.BatchSize, 8),
            Config.EvalLimit, device, cancel);

    void WriteOutputs()
    {
        JsonLines.Write(Folder.MetricsJsonlPath, history);
        try
        {
            var series = new List<CurveSeries>
            {
                new("train loss", history.Select(r => r.TrainLoss).ToArray(), false),
                new("box AP", history.Select(r => r.Box[0]).ToArray(), true),
                new("box AP50", history.Select(r => r.Box[1]).ToArray(), true),
            };
            if (history.All(r => r.Mask is not null)) series.Add(new("mask AP", history.Select(r => r.Mask![0]).ToArray(), true));
            TrainingCurves.Save(Folder.CurvesPath, $"{Config.Model} — {Path.GetFileName(Folder.Path)}", "epoch",
                history.Select(r => (double)r.Iteration / StepsPerEpoch).ToArray(), series, "loss", "AP (%)");
            WriteGrid(GridPath, 6);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException)
        {
            Log?.Invoke($"could not draw the run's PNGs: {e.Message}");
        }
    }

    /// <summary>The first <paramref name="count"/> test images with their detections (score ≥ 0.3), side by side.</summary>
    public void WriteGrid(string path, int count)
    {
        var originals = Enumerable.Range(0, Math.Min(count, data.Test.Count)).Select(data.Test.Get).ToList();
        bool wasTraining = detector.Module.training;
        detector.Module.eval();
        IReadOnlyList<(DetectionList Detections, long ImageId)> found;
        using (no_grad()) found = DetectionEvaluation.Predict(detector, originals.Select(pipeline.Test).ToList(), data.Mean, data.Std, Config.SizeDivisor, device);
        if (wasTraining) detector.Module.train();
        var panels = originals.Select((s, i) => DetectionImages.Draw(new ImageSample(s.Pixels, s.Channels, s.Height, s.Width, 0), found[i].Detections,
            data.Classes, minSide: 192)).ToList();
        ImageDecoder.Save(MaskImages.Tile(panels.Chunk(3).Select(r => (IReadOnlyList<ImageSample>)r).ToList()), path);
    }

    CheckpointInfo Info() => new()
    {
        ModelName = Config.Model,
        Classes = data.Classes,
        Preprocessing = new VisionSsm.Training.Preprocessing(data.Channels, Config.ScaleShort[0], data.Mean, data.Std),
        Config = new TrainConfig { Model = Config.Model, Data = Config.Data, BatchSize = Config.BatchSize, Lr = Config.Lr, WeightDecay = Config.WeightDecay, Seed = Config.Seed },
        Step = step, Epoch = (int)(step / StepsPerEpoch), EpochLossSum = lossSum, EpochSeen = lossCount,
        BestTop1 = double.IsFinite(bestAp) ? bestAp : 0, BestEpoch = bestEpoch,
        Seed = Config.Seed, SavedUtc = DateTime.UtcNow, TaskConfig = Config.ToJson(),
    };

    void SaveCheckpoint(string path)
    {
        using var ckpt = new Checkpoint
        {
            Info = Info(),
            Model = Checkpoint.StateOf(detector.Module),
            Optimizer = OptimizerState.Save(optimizer.Optimizer),
            TorchRngState = random.get_rng_state(),
        };
        ckpt.Save(path);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        detector.Module.Dispose();
    }
}
