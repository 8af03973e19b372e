using System.Diagnostics;
using VisionSsm.Data;
using VisionSsm.Data.Transforms;

namespace VisionSsm.Tests.Data;

public class PrefetchLoaderTests
{
    /// <summary>Item i is a 1×2×2 image filled with i/1000; items in <c>corrupt</c> throw; optional delay per Get.</summary>
    sealed class FakeDataset(int count, int delayMs = 0, params int[] corrupt) : IImageDataset
    {
        public int Count => count;
        public IReadOnlyList<string> Classes { get; } = ["a", "b", "c"];
        public int Gets;
        public ImageSample Get(int index)
        {
            Interlocked.Increment(ref Gets);
            if (delayMs > 0) Thread.Sleep(delayMs);
            if (corrupt.Contains(index)) throw new ImageReadException($"item{index}.png", "corrupt");
            return new ImageSample(Enumerable.Repeat(index / 1000f, 4).ToArray(), 1, 2, 2, index % 3);
        }
    }

    static List<int> Indices(PrefetchLoader loader, int epoch)
    {
        var seen = new List<int>();
        foreach (var b in loader.Epoch(epoch))
            using (b)
            {
                var px = b.Images.data<float>().ToArray();
                for (int k = 0; k < b.Size; k++) seen.Add((int)Math.Round(px[k * 4] * 1000));
            }
        return seen;
    }

    [Fact]
    public void EveryIndexOncePerEpochAndOrderDependsOnSeedAndEpoch()
    {
        var ds = new FakeDataset(103);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 10, Seed = 7, Workers = 3, PrefetchDepth = 2 });
        Assert.Equal(11, loader.BatchesPerEpoch);
        var e0 = Indices(loader, 0);
        Assert.Equal(Enumerable.Range(0, 103), e0.Order());
        Assert.NotEqual(Enumerable.Range(0, 103), e0);
        Assert.Equal(e0, Indices(loader, 0));
        var again = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 10, Seed = 7, Workers = 1 });
        Assert.Equal(e0, Indices(again, 0));
        var e1 = Indices(loader, 1);
        Assert.Equal(Enumerable.Range(0, 103), e1.Order());
        Assert.NotEqual(e0, e1);
        Assert.Equal(e0, loader.Order(0));
    }

    [Fact]
    public void DropLastAndNoShuffleAndStartBatch()
    {
        var ds = new FakeDataset(25);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 10, Shuffle = false, DropLast = true });
        Assert.Equal(Enumerable.Range(0, 20), Indices(loader, 3));
        var sizes = new List<long>();
        foreach (var b in loader.Epoch(0, startBatch: 1)) using (b) sizes.Add(b.Size);
        Assert.Equal([10L], sizes);
    }

    [Fact]
    public void LabelsAndTargetsAndShapes()
    {
        var loader = new PrefetchLoader(new FakeDataset(6), new LoaderOptions { BatchSize = 4, Shuffle = false });
        using var b = loader.Epoch(0).First();
        Assert.Equal([4L, 1, 2, 2], b.Images.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Int64, b.Labels.dtype);
        Assert.Equal([0L, 1, 2, 0], b.Labels.data<long>().ToArray());
        Assert.Same(b.Labels, b.Targets);
    }

    [Fact]
    public void SampleTransformsAreRepeatableAcrossWorkerCounts()
    {
        var ds = new FakeDataset(40);
        ISampleTransform t = new Compose(new PadRandomCrop(1), new RandomHorizontalFlip());
        float[] Run(int workers)
        {
            var l = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 8, Seed = 3, Workers = workers, SampleTransform = t });
            var all = new List<float>();
            foreach (var b in l.Epoch(2)) using (b) all.AddRange(b.Images.data<float>().ToArray());
            return all.ToArray();
        }
        Assert.Equal(Run(1), Run(3));
    }

    [Fact]
    public void CorruptItemsAreSkippedCountedAndReported()
    {
        var ds = new FakeDataset(20, 0, 3, 17);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 8, Shuffle = false });
        var reported = new System.Collections.Concurrent.ConcurrentBag<string>();
        loader.ItemSkipped += e => reported.Add(e.Path);
        var seen = Indices(loader, 0);
        Assert.Equal(Enumerable.Range(0, 20).Where(i => i is not (3 or 17)), seen);
        Assert.Equal(2, loader.Skipped);
        Assert.Equal(["item17.png", "item3.png"], reported.Order());
    }

    [Fact]
    public void PrefetchOverlapsWithTheConsumer()
    {
        // Structural, not timed (a loaded machine makes wall-clock bounds flaky): while the consumer still holds
        // batch k and has not asked for more, the workers build batches k+1 and k+2 on their own. Without
        // prefetching, BatchesBuilt could never run ahead of the batches handed out.
        var ds = new FakeDataset(32, delayMs: 2);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 4, Workers = 2, PrefetchDepth = 4 });
        int consumed = 0;
        foreach (var b in loader.Epoch(0))
            using (b)
            {
                consumed++;
                int wanted = Math.Min(8, consumed + 2);
                var deadline = Stopwatch.StartNew();
                while (loader.BatchesBuilt < wanted && deadline.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(1);
                Assert.True(loader.BatchesBuilt >= wanted,
                    $"holding batch {consumed}: workers built {loader.BatchesBuilt} batches, expected {wanted} without being asked");
            }
        Assert.Equal(8, consumed);
    }

    [Fact]
    public void CancellationStopsPromptly()
    {
        var ds = new FakeDataset(10_000, delayMs: 5);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 4 });
        using var cts = new CancellationTokenSource();
        var sw = Stopwatch.StartNew();
        int n = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var b in loader.Epoch(0, cts.Token))
                using (b)
                    if (++n == 2) cts.Cancel();
        });
        Assert.True(sw.ElapsedMilliseconds < 5000);
        int gets = ds.Gets;
        Thread.Sleep(50);
        Assert.Equal(gets, ds.Gets); // workers have stopped
    }

    [Fact]
    public void BreakingOutEarlyStopsWorkers()
    {
        var ds = new FakeDataset(10_000, delayMs: 1);
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = 4, PrefetchDepth = 2 });
        foreach (var b in loader.Epoch(0)) { b.Dispose(); break; }
        int gets = ds.Gets;
        Assert.True(gets <= 4 * (2 + 2 + 1), $"{gets} items read; the prefetch depth bounds it");
        Thread.Sleep(30);
        Assert.Equal(gets, ds.Gets);
    }

    [Fact]
    public void BatchTransformProducesSoftTargetsAndKeepsHardLabels()
    {
        var ds = new FakeDataset(8);
        var opts = new LoaderOptions { BatchSize = 4, Shuffle = false, BatchTransform = new Mixup(prob: 0, labelSmoothing: 0.3) };
        var loader = new PrefetchLoader(ds, opts);
        using var b = loader.Epoch(0).First();
        Assert.Equal([4L, 3], b.Targets.shape);
        Assert.Equal([0L, 1, 2, 0], b.Labels.data<long>().ToArray());
        Assert.Equal(0.8f, b.Targets[1, 1].item<float>(), 6); // 1 − 0.3 + 0.3/3
        // the same (seed, epoch) gives the same mixed batches
        var mixing = new PrefetchLoader(ds, opts with { BatchTransform = new Mixup(), Shuffle = true, Seed = 4 });
        float[] First(PrefetchLoader l) { using var x = l.Epoch(1).First(); return x.Targets.data<float>().ToArray(); }
        Assert.Equal(First(mixing), First(mixing));
    }

    [Fact]
    public void RepeatedAugmentationRepeatsIndicesWithDifferentAugmentations()
    {
        var ds = new FakeDataset(12);
        var loader = new PrefetchLoader(ds, new LoaderOptions
        {
            BatchSize = 6, Seed = 2, RepeatedAugmentation = 3,
            SampleTransform = new NoiseTransform(),
        });
        var order = loader.Order(0);
        Assert.Equal(12, order.Length);
        for (int i = 0; i < 12; i++) Assert.Equal(order[i / 3 * 3], order[i]);
        Assert.Equal(4, order.Distinct().Count());
        var noise = new List<float>();
        foreach (var b in loader.Epoch(0)) using (b) noise.AddRange(b.Images.data<float>().ToArray().Where((_, k) => k % 4 == 1));
        Assert.Equal(12, noise.Distinct().Count()); // the three copies of an image are augmented differently
    }

    /// <summary>Writes one random number into pixel 1 (to see which Random a sample got).</summary>
    sealed class NoiseTransform : ISampleTransform
    {
        public ImageSample Apply(ImageSample s, Random rng)
        {
            var px = (float[])s.Pixels.Clone();
            px[1] = (float)rng.NextDouble();
            return s with { Pixels = px };
        }
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new PrefetchLoader(new FakeDataset(3), new LoaderOptions { BatchSize = 0 }));
        Assert.Equal("BatchSize", e.ParamName);
    }
}
