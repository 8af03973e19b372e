using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Data;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>
/// The gradient of one training batch computed data-parallel on the cores of one machine: the batch is split into
/// contiguous shards, and each shard's forward + loss + backward runs on its own worker thread with one intra-op
/// thread (<see cref="ShardWorkers"/>), instead of every op of the whole batch being split across the threads.
/// Why: the models trained on small images are chains of many small ops, and splitting each across the cores costs an
/// OpenMP wake-up per op that eats most of the gain (BENCHMARKS.md, "Training step").
/// <para>Same function as the serial step: the loss is a mean over the batch, so each shard's mean loss is scaled by
/// shard/batch and the shard gradients sum to the full-batch gradient (up to rounding). Deterministic: each shard takes
/// its gradient with <c>autograd.grad</c> (nothing is accumulated into <c>.grad</c> concurrently) and the calling
/// thread adds the shard gradients in shard order, so the bits do not depend on which worker finishes first.
/// Drop path draws from a generator per shard seeded from (step seed, shard) (<see cref="RandomStream"/>), so a
/// resumed run replays the same masks.</para>
/// Models with BatchNorm take it as PyTorch's <c>DistributedDataParallel</c> without SyncBN trains them: each shard
/// normalises with its own batch statistics and only shard 0 updates the running statistics
/// (<see cref="DataParallelShard"/>, Layers/OwnedScalarBatchNorm2d), so it is not the serial step's function for them;
/// it applies only when every shard holds at least <see cref="MinImagesPerBatchNormShard"/> images and every
/// BatchNorm is the shard-aware one (<see cref="ShardCount"/>).
/// </summary>
public static class DataParallelStep
{
    /// <summary>The loss and number of correct top-1 predictions of the whole batch.</summary>
    public readonly record struct Result(double Loss, long Correct);

    /// <summary>True when <paramref name="model"/> has a BatchNorm layer (a module with running statistics).</summary>
    public static bool HasBatchNorm(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.modules().Any(m => m is TorchSharp.Modules.BatchNorm1d or TorchSharp.Modules.BatchNorm2d or TorchSharp.Modules.BatchNorm3d)
            || model.named_buffers().Any(b => b.name == "running_mean" || b.name.EndsWith(".running_mean", StringComparison.Ordinal));
    }

    /// <summary>Fewest images per shard with which a BatchNorm model takes the data-parallel step: its statistics come
    /// from one shard, and mmsegmentation's and mmdetection's configs normalise over 2–4 images per GPU (with SyncBN, or
    /// frozen); 8 keeps the per-shard statistics no noisier than a batch-8 serial step's.</summary>
    public const int MinImagesPerBatchNormShard = 8;

    /// <summary>
    /// Shards for one step: <paramref name="threads"/> when the data-parallel step applies (allowed by
    /// <see cref="KernelOptions.DataParallel"/>, ≥ 2 threads, a CPU model, at least one image per shard; for a model
    /// with BatchNorm, only shard-aware BatchNorm layers and at least <see cref="MinImagesPerBatchNormShard"/> images
    /// per shard), else 1 (the serial step).
    /// </summary>
    public static int ShardCount(Module model, long batchSize, int threads, Device device, KernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.DataParallel || threads < 2 || batchSize < threads || device.type != DeviceType.CPU) return 1;
        if (!HasBatchNorm(model)) return threads;
        bool shardAware = model.modules().All(m => m is Layers.OwnedScalarBatchNorm2d || !m.named_buffers(recurse: false).Any(b => b.name == "running_mean"));
        return shardAware && batchSize / threads >= MinImagesPerBatchNormShard ? threads : 1;
    }

    /// <summary>Contiguous shards of a batch, as even as possible (the first <c>batch mod shards</c> take one more).</summary>
    public static (long Start, long Length)[] Split(long batchSize, int shards)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        if (batchSize < shards) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"expected at least one image per shard ({shards} shards)");
        var result = new (long, long)[shards];
        long start = 0, size = batchSize / shards, extra = batchSize % shards;
        for (int i = 0; i < shards; i++)
        {
            long n = size + (i < extra ? 1 : 0);
            result[i] = (start, n);
            start += n;
        }
        return result;
    }

    /// <summary>
    /// Computes the batch gradient of <paramref name="loss"/> (a mean over the batch) into the <c>.grad</c> of
    /// <paramref name="parameters"/> (replacing what was there) with <paramref name="shards"/> concurrent shards, and
    /// returns the batch loss and top-1 count. Call inside the step's dispose scope; the model must be in train mode.
    /// </summary>
    /// <param name="labels">Class indices for the top-1 count (as <c>Batch.Labels</c>).</param>
    /// <param name="seed">The step's seed; shard s draws drop-path masks from a generator seeded with Mix(seed, s).</param>
    public static Result ComputeGradients(Module<Tensor, Tensor> model, IReadOnlyList<Parameter> parameters, Tensor images, Tensor targets,
        Tensor labels, Func<Tensor, Tensor, Tensor> loss, int shards, long seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        long batch = images.shape[0];
        if (targets.shape[0] != batch || labels.shape[0] != batch)
            throw new ArgumentException($"images, targets and labels must have the same batch size (got {batch}, {targets.shape[0]}, {labels.shape[0]}).", nameof(targets));
        var (total, extras) = ComputeGradients(parameters, batch, shards, seed, (start, n) =>
        {
            var logits = model.forward(images.narrow(0, start, n));
            return (loss(logits, targets.narrow(0, start, n)), [logits.argmax(1).eq(labels.narrow(0, start, n)).sum()]);
        });
        return new Result(total, extras.Sum(e => e[0].ToInt64()));
    }

    /// <summary>
    /// The general form: <paramref name="shardLoss"/>(start, length) runs the forward of images [start, start + length)
    /// of a batch of <paramref name="batch"/> and returns the shard's mean loss and any tensors the caller wants back
    /// (detached by the caller if they need no gradient). Fills the <c>.grad</c> of <paramref name="parameters"/> with
    /// the batch gradient and returns the batch loss and each shard's extra tensors, in shard order.
    /// </summary>
    public static (double Loss, Tensor[][] Extras) ComputeGradients(IReadOnlyList<Parameter> parameters, long batch, int shards, long seed,
        Func<long, long, (Tensor Loss, Tensor[] Extras)> shardLoss)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(shardLoss);
        var bounds = Split(batch, shards);
        var inputs = parameters.Select(p => (Tensor)p).ToArray();
        var results = ShardWorkers.Run(shards, s =>
        {
            var (start, n) = bounds[s];
            using var generator = new Generator(unchecked((ulong)(uint)SeedMixer.Mix(seed, s)));
            using var stream = RandomStream.Use(generator);
            using var shard = DataParallelShard.Enter(s);
            var (meanLoss, extras) = shardLoss(start, n);
            // The shard's share of the batch mean: mean_s · n_s / B, so the shard losses (and gradients) sum to the batch's.
            var scaled = meanLoss.Times((double)n / batch);
            var grads = autograd.grad([scaled], inputs);
            return [scaled.detach(), .. grads, .. extras];
        }, gradients: true);

        double total = 0;
        for (int s = 0; s < shards; s++) total += results[s][0].ToDouble();
        using (no_grad())
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                // Fixed order (shard 0, 1, …): floating-point addition is not associative beyond two terms. Into a
                // fresh tensor in the parameter's layout (the shard gradients may be channels-last, or one tensor shared
                // by two parameters, e.g. both operands of an add); 0 + g₀ is g₀ exactly.
                var sum = zeros_like(parameters[i]);
                for (int s = 0; s < shards; s++) sum.PlusInPlace(results[s][1 + i]);
                parameters[i].grad = sum;   // the parameter keeps its own reference; the wrapper stays in the step's scope
            }
        }
        return (total, results.Select(r => r[(1 + inputs.Length)..]).ToArray());
    }
}
