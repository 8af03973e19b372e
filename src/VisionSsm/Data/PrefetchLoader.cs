using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Data;

/// <summary>
/// Produces mini-batches on background threads while the model computes (TorchSharp's DataLoader assembles each
/// batch synchronously in MoveNext, docs/architecture.md §6).
/// <list type="bullet">
/// <item>Order: <see cref="Epoch"/> uses a permutation that depends only on (Seed, epoch), and every sample's
/// transform gets a <see cref="Random"/> seeded from (Seed, epoch, dataset index), so a run — or a resumed run —
/// sees identical batches regardless of worker timing.</item>
/// <item>Threads: workers only touch managed arrays (decode + transform + collate into one float[] per batch);
/// the tensors are created on the consumer thread inside MoveNext, so they belong to whatever dispose scope the
/// consumer has open at that point. <b>The consumer owns each <see cref="Batch"/> and must dispose it</b>
/// (<c>using var b = …</c> or a dispose scope around the step).</item>
/// <item>Memory: at most <see cref="LoaderOptions.PrefetchDepth"/> batches are in flight.</item>
/// <item>Corrupt items: an <see cref="ImageReadException"/> raises <see cref="ItemSkipped"/>, increments
/// <see cref="Skipped"/>, and the item is left out of its batch (the batch is one smaller).</item>
/// </list>
/// </summary>
public sealed class PrefetchLoader
{
    readonly IImageDataset dataset;
    long skipped;
    readonly ConcurrentQueue<string> skippedPaths = new();

    public PrefetchLoader(IImageDataset dataset, LoaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.dataset = dataset;
        Options = options;
        NumClasses = options.NumClasses ?? dataset.Classes.Count;
    }

    public LoaderOptions Options { get; }
    public IImageDataset Dataset => dataset;
    public int NumClasses { get; }

    /// <summary>Items skipped so far (all epochs) because they could not be read.</summary>
    public long Skipped => Interlocked.Read(ref skipped);

    /// <summary>Paths (as reported by <see cref="ImageReadException.Path"/>) of the skipped items, in report order.</summary>
    public IReadOnlyCollection<string> SkippedPaths => skippedPaths;

    /// <summary>Raised on a worker thread for every unreadable item; handlers must be thread-safe.</summary>
    public event Action<ImageReadException>? ItemSkipped;

    public int BatchesPerEpoch => Options.DropLast ? dataset.Count / Options.BatchSize
        : (dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The order of dataset indices in <paramref name="epoch"/>: Fisher–Yates with a (seed, epoch) Random, or 0..n−1.</summary>
    public int[] Order(int epoch)
    {
        var order = Options.Shuffle ? Permutation(dataset.Count, Options.Seed, epoch) : Enumerable.Range(0, dataset.Count).ToArray();
        int r = Options.RepeatedAugmentation;
        if (r <= 1) return order;
        // timm RASampler with one replica: every index repeated r times in a row, truncated to the data set's length
        // (so an epoch sees about N/r distinct images, each r times under different augmentations).
        var repeated = new int[order.Length];
        for (int i = 0; i < repeated.Length; i++) repeated[i] = order[i / r];
        return repeated;
    }

    public static int[] Permutation(int count, int seed, int epoch)
    {
        var p = Enumerable.Range(0, count).ToArray();
        var rng = SeedMixer.Rng(seed, epoch, -1, 1);
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>
    /// The batches of one epoch, starting at batch <paramref name="startBatch"/> (to resume mid-epoch with the same
    /// order). Workers start on the first MoveNext and stop when the enumeration ends, is disposed, or
    /// <paramref name="cancellation"/> fires (then MoveNext throws <see cref="OperationCanceledException"/>).
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellation = default, int startBatch = 0)
    {
        foreach (var host in HostBatches(epoch, cancellation, startBatch))
            yield return ToBatch(host, epoch);
    }

    /// <summary>A collated batch in managed memory (what the workers produce); <see cref="Epoch"/> turns it into tensors.</summary>
    public sealed record HostBatch(int Index, float[] Images, long[] Labels, int Channels, int Height, int Width)
    {
        public int Size => Labels.Length;
    }

    /// <summary>The epoch's batches in managed memory, prefetched by the workers (no tensors involved).</summary>
    public IEnumerable<HostBatch> HostBatches(int epoch, CancellationToken cancellation = default, int startBatch = 0)
    {
        int total = BatchesPerEpoch;
        if (startBatch < 0 || startBatch > total)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"expected 0 ≤ startBatch ≤ {total}.");
        int[] order = Order(epoch);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var ct = cts.Token;
        var slots = new SemaphoreSlim(Options.PrefetchDepth);
        var results = new TaskCompletionSource<HostBatch?>[total];
        for (int i = startBatch; i < total; i++) results[i] = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int next = startBatch - 1;
        var workers = new Thread[Math.Min(Options.Workers, Math.Max(1, total - startBatch))];
        for (int w = 0; w < workers.Length; w++)
        {
            workers[w] = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        slots.Wait(ct);
                        int b = Interlocked.Increment(ref next);
                        if (b >= total) return;
                        try { results[b].TrySetResult(BuildBatch(b, order, epoch, ct)); }
                        catch (OperationCanceledException) { results[b].TrySetCanceled(); return; }
                        catch (Exception e) { results[b].TrySetException(e); return; }
                    }
                }
                catch (OperationCanceledException) { }
            }) { IsBackground = true, Name = $"PrefetchLoader worker {w}" };
            workers[w].Start();
        }
        try
        {
            for (int b = startBatch; b < total; b++)
            {
                HostBatch? host;
                try { host = results[b].Task.WaitAsync(ct).GetAwaiter().GetResult(); }
                finally { slots.Release(); }
                if (host is not null) yield return host;
            }
        }
        finally
        {
            cts.Cancel();
            foreach (var t in workers) t.Join();
            slots.Dispose();
        }
    }

    /// <summary>Number of batches whose managed data were finished (for diagnostics and the overlap test).</summary>
    public long BatchesBuilt => Interlocked.Read(ref batchesBuilt);
    long batchesBuilt;

    HostBatch? BuildBatch(int b, int[] order, int epoch, CancellationToken ct)
    {
        int start = b * Options.BatchSize, end = Math.Min(start + Options.BatchSize, order.Length);
        var samples = new List<ImageSample>(end - start);
        for (int i = start; i < end; i++)
        {
            ct.ThrowIfCancellationRequested();
            int index = order[i];
            ImageSample s;
            try
            {
                s = dataset.Get(index);
                // the k-th repeat of an index (repeated augmentation) gets its own stream; k = 0 without repeats
                int repeat = Options.RepeatedAugmentation > 1 ? i % Options.RepeatedAugmentation : 0;
                if (Options.SampleTransform is { } t) s = t.Apply(s, SeedMixer.Rng(Options.Seed, epoch, index, repeat == 0 ? 0 : 10 + repeat));
            }
            catch (ImageReadException e)
            {
                Interlocked.Increment(ref skipped);
                skippedPaths.Enqueue(e.Path);
                ItemSkipped?.Invoke(e);
                continue;
            }
            samples.Add(s);
        }
        Interlocked.Increment(ref batchesBuilt);
        if (samples.Count == 0) return null;
        var first = samples[0];
        int n = first.Pixels.Length;
        var images = new float[samples.Count * n];
        var labels = new long[samples.Count];
        for (int k = 0; k < samples.Count; k++)
        {
            var s = samples[k];
            if (s.Channels != first.Channels || s.Height != first.Height || s.Width != first.Width)
                throw new InvalidOperationException(
                    $"batch {b} mixes image shapes ({first.Channels}, {first.Height}, {first.Width}) and ({s.Channels}, {s.Height}, {s.Width}); " +
                    "add a resize/crop transform so every sample has the same size.");
            s.Pixels.CopyTo(images, k * n);
            labels[k] = s.Label;
        }
        return new HostBatch(b, images, labels, first.Channels, first.Height, first.Width);
    }

    /// <summary>Creates the batch tensors (consumer thread) and applies the batch transform with a (seed, epoch, batch) Random.</summary>
    public Batch ToBatch(HostBatch host, int epoch)
    {
        var device = Options.Device ?? CPU;
        using var scope = NewDisposeScope();
        Tensor images = torch.tensor(host.Images, [host.Size, host.Channels, host.Height, host.Width]);
        Tensor labels = torch.tensor(host.Labels, [host.Size]);
        if (device.type != DeviceType.CPU) { images = images.to(device); labels = labels.to(device); }
        Tensor targets = labels;
        if (Options.BatchTransform is { } bt)
            (images, targets) = bt.Apply(images, labels, NumClasses, SeedMixer.Rng(Options.Seed, epoch, host.Index, 2));
        images.MoveToOuterDisposeScope();
        labels.MoveToOuterDisposeScope();
        if (!ReferenceEquals(targets, labels)) targets.MoveToOuterDisposeScope();
        return new Batch(images, targets, labels);
    }
}
