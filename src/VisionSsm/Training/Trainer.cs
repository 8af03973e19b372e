using System.Diagnostics;
using System.Runtime.InteropServices;
using VisionSsm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Data;
using VisionSsm.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>
/// The training loop (timm <c>train.py</c>): AdamW with the reference no-decay groups, per-iteration warmup + cosine,
/// drop path, label smoothing or Mixup/CutMix soft targets, gradient clipping, EMA, evaluation on the test split
/// after every epoch, atomic checkpoints (last and best) and the run folder's metrics and curves.
/// One <c>torch.NewDisposeScope()</c> per step keeps memory flat. Repeatable: every random stream derives from the
/// seed and the position (<see cref="RunSeeds"/>), so <see cref="Resume"/> reproduces an uninterrupted run.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly ModelEntry entry;
    readonly TrainingData data;
    readonly Module<Tensor, Tensor> model;
    readonly ModelEma? ema;
    readonly AdamW optimizer;
    readonly WarmupCosineSchedule schedule;
    readonly PrefetchLoader trainLoader;
    readonly List<EpochMetrics> history = new();
    readonly Device device;
    CheckpointInfo position;
    const long TorchStream = 7;

    public TrainConfig Config { get; }
    public RunFolder Folder { get; }
    public int StepsPerEpoch { get; }
    public Module<Tensor, Tensor> Model => model;
    public Module<Tensor, Tensor>? EmaModel => ema?.Module;

    /// <summary>Shards of the data-parallel step (<see cref="DataParallelStep"/>) to use when it applies; null = one per
    /// thread (<see cref="TorchRuntime.Threads"/>). Set before <see cref="Run"/>.</summary>
    public int? DataParallelShards { get; set; }

    /// <summary>How the last step ran: the number of concurrent shards, 1 for the serial step, 0 before the first step.</summary>
    public int StepShards { get; private set; }

    public event Action<TrainingProgress>? Progress;
    public event Action<EpochMetrics, ClassificationMetrics>? EpochCompleted;
    /// <summary>After each optimiser step, with the number of steps this session has taken (e.g. to sample memory).</summary>
    public event Action<long>? StepCompleted;
    public event Action<string>? Log;

    Trainer(TrainConfig config, ModelEntry entry, TrainingData data, RunFolder run, Checkpoint? resume)
    {
        config.Validate();
        (Config, this.entry, this.data, Folder) = (config, entry, data, run);
        if (data.Train.Count < config.BatchSize)
            throw new ArgumentException($"--batch-size {config.BatchSize} is larger than the training set ({data.Train.Count} images).", "batch-size");
        if (data.Test.Classes.Count != data.Classes.Count)
            throw new ArgumentException($"the test split has {data.Test.Classes.Count} classes; the training split has {data.Classes.Count}.");
        device = ParseDevice(config.Device);
        if (config.Threads != 0) Runtime.TorchRuntime.SetThreads(config.Threads);
        random.manual_seed(config.Seed);
        var options = new ModelOptions(data.Classes.Count, data.Preprocessing.Channels, data.Preprocessing.ImageSize, config.DropPath, device);
        try { model = entry.Factory(options); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"model '{entry.Name}' cannot be built for {options.InChannels}×{options.ImageSize}×{options.ImageSize} input " +
                                        $"(its default size is {entry.DefaultImageSize}; set --img-size): {e.Message}", "img-size", e);
        }
        model.to(device);
        CheckInput(model, entry, data.Preprocessing, device);
        if (config.EmaDecay > 0) ema = new ModelEma(model, entry.Factory(options with { DropPathRate = 0 }).to(device), config.EmaDecay);
        optimizer = OptimizerFactory.Create(model, config);
        trainLoader = new PrefetchLoader(data.Train, new LoaderOptions
        {
            BatchSize = config.BatchSize, Shuffle = true, DropLast = true, Seed = config.Seed, SampleTransform = data.TrainTransform,
            BatchTransform = data.BatchTransform, NumClasses = data.Classes.Count, Device = device,
        });
        trainLoader.ItemSkipped += e => Log?.Invoke($"skipped unreadable item: {e.Message}");
        StepsPerEpoch = trainLoader.BatchesPerEpoch;
        long total = (long)StepsPerEpoch * config.Epochs;
        schedule = new WarmupCosineSchedule(config.Lr, total, Math.Min(total, (long)Math.Round(config.WarmupEpochs * StepsPerEpoch)),
            config.WarmupLr, config.MinLr);
        position = new CheckpointInfo
        {
            ModelName = entry.Name, Classes = data.Classes, Preprocessing = data.Preprocessing, Config = config, Seed = config.Seed,
        };
        if (resume is not null) Restore(resume);
    }

    /// <summary>Starts a new run in <paramref name="run"/>.</summary>
    public static Trainer Start(TrainConfig config, ModelEntry entry, TrainingData data, RunFolder run)
    {
        var trainer = new Trainer(config, entry, data, run, null);
        run.WriteConfig(config);
        return trainer;
    }

    /// <summary>Continues the run in <paramref name="run"/> from its last checkpoint, with the checkpoint's config.</summary>
    /// <param name="config">Overrides for the checkpoint's config (threads, max steps); null = the stored config.
    /// A different <see cref="TrainConfig.Epochs"/> extends (or shortens) the run, as timm's <c>--resume</c> with a new
    /// <c>--epochs</c>: the cosine is recomputed over the new length and continues from the current step.</param>
    public static Trainer Resume(RunFolder run, ModelEntry entry, TrainingData data, TrainConfig? config = null)
    {
        using var ckpt = Checkpoint.Load(run.LastCheckpointPath);
        if (ckpt.Info.ModelName != entry.Name)
            throw new ArgumentException($"--resume: the run trained '{ckpt.Info.ModelName}', not '{entry.Name}'.", "model");
        config ??= ckpt.Info.Config;
        int started = ckpt.Info.Epoch + (ckpt.Info.StepInEpoch > 0 ? 1 : 0);
        if (config.Epochs < Math.Max(started, 1))
            throw new ArgumentException($"--epochs: the run has already {(ckpt.Info.StepInEpoch > 0 ? "started" : "completed")} {started} epoch(s); " +
                                        $"give at least {Math.Max(started, 1)} to continue it (it was started with {ckpt.Info.Config.Epochs}).", "epochs");
        var trainer = new Trainer(config, entry, data, run, ckpt);
        if (config.Epochs != ckpt.Info.Config.Epochs) run.WriteConfig(config);
        return trainer;
    }

    /// <summary>Reads the config a run was started with (to rebuild its data before <see cref="Resume"/>).</summary>
    public static CheckpointInfo ReadRunInfo(RunFolder run)
    {
        using var ckpt = Checkpoint.Load(run.LastCheckpointPath);
        return ckpt.Info;
    }

    void Restore(Checkpoint ckpt)
    {
        Checkpoint.LoadInto(model, ckpt.Model);
        if (ema is not null)
        {
            if (ckpt.Ema is null) throw new InvalidDataException("the checkpoint has no EMA weights but the run uses an EMA.");
            Checkpoint.LoadInto(ema.Module, ckpt.Ema, "checkpoint's EMA");
        }
        if (ckpt.Optimizer is not null) OptimizerState.Load(optimizer, ckpt.Optimizer);
        if (ckpt.TorchRngState is not null) random.set_rng_state(ckpt.TorchRngState);
        // Later checkpoints carry the (possibly extended) length, so a further --resume keeps it.
        position = ckpt.Info with { Config = ckpt.Info.Config with { Epochs = Config.Epochs } };
        history.AddRange(Folder.ReadMetrics().Where(r => r.Epoch <= position.Epoch));
        Log?.Invoke($"resuming at epoch {position.Epoch + 1}, batch {position.StepInEpoch + 1}, step {position.Step}");
    }

    /// <summary>Trains until the last epoch, <see cref="TrainConfig.MaxSteps"/>, or cancellation (then saves last.ckpt and returns).</summary>
    public TrainingResult Run(CancellationToken cancel = default)
    {
        ClassificationMetrics? lastTest = null, lastEma = null;
        long stepLimit = Config.MaxSteps ?? long.MaxValue;
        long totalSteps = Math.Min((long)StepsPerEpoch * Config.Epochs, stepLimit);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        int shards = DataParallelStep.ShardCount(model, Config.BatchSize, DataParallelShards ?? TorchRuntime.Threads, device, KernelOptions.Current);
        if (shards > 1) Log?.Invoke($"data-parallel step: {shards} shards of the batch side by side (--kernels dataparallel=off for the serial step)");
        var clock = Stopwatch.StartNew();
        long stepsThisSession = 0;
        for (int epoch = position.Epoch; epoch < Config.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            long imagesThisEpoch = 0;
            double lossSum = position.EpochLossSum;
            long correct = position.EpochCorrect, seen = position.EpochSeen;
            long step = position.Step;
            model.train();
            foreach (var host in trainLoader.HostBatches(epoch, default, position.StepInEpoch))
            {
                int b = host.Index;
                if (cancel.IsCancellationRequested || step >= stepLimit)
                {
                    position = position with { Epoch = epoch, StepInEpoch = b, Step = step, EpochLossSum = lossSum, EpochCorrect = correct, EpochSeen = seen };
                    SaveCheckpoint(Folder.LastCheckpointPath);
                    Log?.Invoke(cancel.IsCancellationRequested
                        ? $"interrupted: saved {Folder.LastCheckpointPath} at epoch {epoch + 1}, batch {b + 1} (step {step}); continue with --resume {Folder.Path}"
                        : $"stopped after {step} steps (--max-steps); saved {Folder.LastCheckpointPath}");
                    return new TrainingResult(false, history, lastTest, lastEma, Folder.Path, step, trainLoader.Skipped);
                }
                using (var scope = NewDisposeScope())
                {
                    using var batch = trainLoader.ToBatch(host, epoch);
                    // Drop path / dropout draw from torch's generator: seed it by position so a resumed run replays it.
                    // The data-parallel step seeds a generator per shard from the same value (DataParallelStep).
                    int stepSeed = SeedMixer.Mix(Config.Seed, epoch, b, TorchStream);
                    random.manual_seed(stepSeed);
                    double lr = schedule.At(step);
                    OptimizerFactory.SetLearningRate(optimizer, lr);
                    long n = batch.Size;
                    double lossValue;
                    if (shards > 1)
                    {
                        var r = DataParallelStep.ComputeGradients(model, parameters, batch.Images, batch.Targets, batch.Labels, LossOf, shards, stepSeed);
                        lossValue = r.Loss;
                        if (!double.IsFinite(lossValue)) throw new NonFiniteLossException(step, epoch, b, lossValue);
                        correct += r.Correct;
                    }
                    else
                    {
                        var logits = model.forward(batch.Images);
                        var loss = LossOf(logits, batch.Targets);
                        lossValue = loss.item<float>();
                        if (!double.IsFinite(lossValue)) throw new NonFiniteLossException(step, epoch, b, lossValue);
                        optimizer.zero_grad();
                        loss.backward();
                        correct += logits.argmax(1).eq(batch.Labels).sum().item<long>();
                    }
                    StepShards = shards;
                    if (Config.ClipGrad > 0) nn.utils.clip_grad_norm_(parameters, Config.ClipGrad);
                    optimizer.step();
                    ema?.Update();
                    lossSum += lossValue * n;
                    seen += n;
                    imagesThisEpoch += n;
                    step++;
                    stepsThisSession++;
                    if (stepsThisSession is 100 or 1000) Log?.Invoke($"RSS after {stepsThisSession} steps: {Environment.WorkingSet / (1 << 20)} MiB");
                    StepCompleted?.Invoke(stepsThisSession);
                    if (Progress is not null)
                    {
                        double ips = imagesThisEpoch / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9);
                        double secPerStep = clock.Elapsed.TotalSeconds / stepsThisSession;
                        Progress(new TrainingProgress(epoch, Config.Epochs, b + 1, StepsPerEpoch, step, totalSteps, lossSum / seen,
                            100.0 * correct / seen, lr, ips, TimeSpan.FromSeconds(secPerStep * Math.Max(0, totalSteps - step))));
                    }
                }
                // Periodic checkpoint within the epoch (the epoch's end writes one anyway): the position after batch b.
                if (Config.CheckpointEvery > 0 && step % Config.CheckpointEvery == 0 && b + 1 < StepsPerEpoch && step < stepLimit)
                {
                    position = position with { Epoch = epoch, StepInEpoch = b + 1, Step = step, EpochLossSum = lossSum, EpochCorrect = correct, EpochSeen = seen };
                    SaveCheckpoint(Folder.LastCheckpointPath);
                }
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            lastTest = Evaluate(model, cancel);
            lastEma = ema is null ? null : Evaluate(ema.Module, cancel);
            double top1 = Math.Max(lastTest.Top1, lastEma?.Top1 ?? 0);
            var row = new EpochMetrics(epoch + 1, step, schedule.At(Math.Max(0, step - 1)), lossSum / Math.Max(seen, 1), 100.0 * correct / Math.Max(seen, 1),
                lastTest.MeanLoss, lastTest.Top1, lastTest.Top5, lastEma?.Top1, lastEma?.Top5,
                trainSeconds, imagesThisEpoch / Math.Max(trainSeconds, 1e-9), Environment.WorkingSet,
                (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds);
            history.Add(row);
            bool best = top1 > position.BestTop1 || position.BestEpoch == 0;
            position = position with
            {
                Epoch = epoch + 1, StepInEpoch = 0, Step = step, EpochLossSum = 0, EpochCorrect = 0, EpochSeen = 0,
                BestTop1 = best ? top1 : position.BestTop1, BestEpoch = best ? epoch + 1 : position.BestEpoch,
            };
            SaveCheckpoint(Folder.LastCheckpointPath);
            if (best) AtomicFile.Copy(Folder.LastCheckpointPath, Folder.BestCheckpointPath);
            Folder.WriteMetrics(history);
            try { TrainingCurves.Save(history, Folder.CurvesPath, $"{entry.Name} — {Path.GetFileName(Folder.Path)}"); }
            catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException)
            {
                Log?.Invoke($"could not draw {Folder.CurvesPath}: {e.Message}");
            }
            EpochCompleted?.Invoke(row, lastTest);
        }
        lastTest ??= Evaluate(model, cancel);
        if (ema is not null) lastEma ??= Evaluate(ema.Module, cancel);
        return new TrainingResult(true, history, lastTest, lastEma, Folder.Path, position.Step, trainLoader.Skipped);
    }

    /// <summary>The training loss, a mean over the batch: soft-target cross-entropy for Mixup/CutMix targets, else
    /// cross-entropy with label smoothing.</summary>
    Tensor LossOf(Tensor logits, Tensor targets) => targets.dim() == 2
        ? Losses.SoftTargetCrossEntropy(logits, targets)
        : Losses.CrossEntropy(logits, targets, Config.Smoothing);

    /// <summary>Evaluates <paramref name="net"/> on the test split.</summary>
    public ClassificationMetrics Evaluate(Module<Tensor, Tensor> net, CancellationToken cancel = default) =>
        Evaluation.Evaluate(net, data.Test, data.EvalTransform ?? data.Preprocessing.EvalTransform(), Math.Max(Config.BatchSize, 256),
            device, data.Classes, cancel);

    /// <summary>One forward pass of a blank image, so a size the model cannot take fails now, naming the size, not mid-run.</summary>
    public static void CheckInput(Module<Tensor, Tensor> net, ModelEntry entry, Preprocessing p, Device? device = null)
    {
        bool wasTraining = net.training;
        net.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            net.forward(zeros([1, p.Channels, p.ImageSize, p.ImageSize], device: device));
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException)
        {
            throw new ArgumentException($"model '{entry.Name}' cannot take {p.Channels}×{p.ImageSize}×{p.ImageSize} input " +
                                        $"(its default size is {entry.DefaultImageSize}; set --img-size): {e.Message}", "img-size", e);
        }
        finally { if (wasTraining) net.train(); }
    }

    void SaveCheckpoint(string path)
    {
        var info = position with { SavedUtc = DateTime.UtcNow };
        using var ckpt = new Checkpoint
        {
            Info = info,
            Model = Checkpoint.StateOf(model),
            Ema = ema is null ? null : Checkpoint.StateOf(ema.Module),
            Optimizer = OptimizerState.Save(optimizer),
            TorchRngState = random.get_rng_state(),
        };
        ckpt.Save(path);
    }

    /// <summary>"cpu", "cuda", "cuda:1"; an unavailable device is an error naming it.</summary>
    public static Device ParseDevice(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Runtime.NativeLibraryCheck.EnsureLoaded();
        Device d;
        try { d = new Device(name); }
        catch (Exception e) { throw new ArgumentException($"--device '{name}' is not a device name (expected cpu, cuda or cuda:N).", "device", e); }
        if (d.type == DeviceType.CUDA && !cuda.is_available())
            throw new ArgumentException($"--device '{name}': CUDA is not available in this build (TorchSharp-cpu); use cpu.", "device");
        return d;
    }

    public void Dispose()
    {
        optimizer.Dispose();
        ema?.Dispose();
        model.Dispose();
    }
}
