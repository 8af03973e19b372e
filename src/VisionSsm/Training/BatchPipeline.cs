using System.Collections.Concurrent;
using VisionSsm.Data;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// Turns a data set into normalised batches: decodes and transforms samples (in parallel, on background threads,
/// a few batches ahead of the model), stacks them, resizes to the model's input size when needed and normalises.
/// Each sample's transform gets its own <see cref="Random"/> derived from (seed, epoch, position), so the output does
/// not depend on thread timing. Unreadable items (<see cref="ImageReadException"/>) are reported and skipped.
/// </summary>
public sealed class BatchPipeline
{
    readonly IImageDataset dataset;
    readonly IReadOnlyList<ISampleTransform> transforms;
    readonly Preprocessing preprocessing;

    public int BatchSize { get; }
    public int Prefetch { get; init; } = 3;
    /// <summary>Items that could not be read, by message (path + reason).</summary>
    public ConcurrentBag<string> Skipped { get; } = new();
    public event Action<string>? Warning;

    public BatchPipeline(IImageDataset dataset, IReadOnlyList<ISampleTransform> transforms, Preprocessing preprocessing, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected ≥ 1");
        (this.dataset, this.transforms, this.preprocessing, BatchSize) = (dataset, transforms, preprocessing, batchSize);
    }

    public int BatchCount(bool dropLast) => dropLast ? dataset.Count / BatchSize : (dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>
    /// The batches of one epoch in <paramref name="order"/> (null = sequential), starting at batch <paramref name="skip"/>.
    /// Tensors of a yielded batch belong to the caller. <paramref name="dropLast"/> drops a final partial batch (training).
    /// </summary>
    public IEnumerable<(int Index, Tensor Images, Tensor Labels)> Batches(int[]? order, int seed, int epoch, bool dropLast, int skip = 0,
        CancellationToken cancel = default)
    {
        int count = BatchCount(dropLast);
        var pending = new Queue<Task<(float[] Pixels, long[] Labels, int C, int H, int W)>>();
        int next = skip;
        void Enqueue()
        {
            int b = next++;
            pending.Enqueue(Task.Run(() => Prepare(order, seed, epoch, b)));
        }
        while (next < count && pending.Count < Prefetch) Enqueue();
        for (int b = skip; b < count; b++)
        {
            cancel.ThrowIfCancellationRequested();
            var (pixels, labels, c, h, w) = pending.Dequeue().GetAwaiter().GetResult();
            if (next < count) Enqueue();
            if (labels.Length == 0) continue;
            var images = ToInput(pixels, labels.Length, c, h, w);
            yield return (b, images, tensor(labels, dtype: int64));
        }
    }

    /// <summary>Stacked CHW floats in [0, 1] → a normalised (B, C, S, S) tensor at the model's input size.</summary>
    public Tensor ToInput(float[] pixels, int batch, int c, int h, int w)
    {
        if (c != preprocessing.Channels)
            throw new ArgumentException($"images have {c} channels; the model expects {preprocessing.Channels}.");
        var images = tensor(pixels, [batch, c, h, w]);
        int s = preprocessing.ImageSize;
        if (h != s || w != s)
        {
            var resized = nn.functional.interpolate(images, [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
            images.Dispose();
            images = resized;
        }
        return preprocessing.Normalize(images);
    }

    (float[], long[], int, int, int) Prepare(int[]? order, int seed, int epoch, int batch)
    {
        int start = batch * BatchSize, end = Math.Min(start + BatchSize, dataset.Count);
        var samples = new ImageSample?[end - start];
        Parallel.For(start, end, new ParallelOptions { MaxDegreeOfParallelism = 2 }, pos =>
        {
            int index = order?[pos] ?? pos;
            try
            {
                var sample = dataset.Get(index);
                if (transforms.Count > 0)
                {
                    var rng = new Random(RunSeeds.Derive(seed, RunSeeds.Sample, epoch, pos));
                    foreach (var t in transforms) sample = t.Apply(sample, rng);
                }
                samples[pos - start] = sample;
            }
            catch (ImageReadException e)
            {
                Skipped.Add(e.Message);
                Warning?.Invoke($"skipped unreadable item: {e.Message}");
            }
        });
        var ok = samples.Where(s => s is not null).Select(s => s!).ToList();
        if (ok.Count == 0) return ([], [], 0, 0, 0);
        var first = ok[0];
        int size = first.Pixels.Length;
        var pixels = new float[size * ok.Count];
        var labels = new long[ok.Count];
        for (int i = 0; i < ok.Count; i++)
        {
            var s = ok[i];
            if (s.Channels != first.Channels || s.Height != first.Height || s.Width != first.Width)
                throw new InvalidDataException($"sample {i} of batch {batch} is {s.Channels}×{s.Height}×{s.Width}; the batch's first is {first.Channels}×{first.Height}×{first.Width} (add a resize transform).");
            s.Pixels.CopyTo(pixels, i * size);
            labels[i] = s.Label;
        }
        return (pixels, labels, first.Channels, first.Height, first.Width);
    }
}
