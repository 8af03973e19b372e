using System.Diagnostics;
using VisionSsm.Data;
using VisionSsm.Data.Transforms;

namespace VisionSsm.Bench;

/// <summary>
/// Data-loading throughput (images/s): per-sample pipelines on one thread and the PrefetchLoader with 1–2 workers
/// (batches collated into tensors, no model), for Fashion-MNIST (28 px) and an ImageFolder of JPEGs at 224 px.
/// Options: <c>--jpegs N</c> (synthetic 500×375 JPEGs, default 96), <c>--fm N</c> (Fashion-MNIST images, default 20000).
/// </summary>
public static class DataBench
{
    public static void RegisterSuite() => Suites.Register("data", "data loading: img/s of the Fashion-MNIST and ImageFolder-JPEG-224 pipelines", Run);

    static int Run(string[] args)
    {
        int jpegs = Measure.IntOption(args, "--jpegs", 96);
        int fmCount = Measure.IntOption(args, "--fm", 20000);
        Console.WriteLine($"| pipeline | threads | img/s |");
        Console.WriteLine($"|---|---|---|");

        IImageDataset fm = FashionMnist.IsInstalled() ? FashionMnist.Load(train: true) : SyntheticGray(fmCount);
        var fmSubset = new Subset(fm, Math.Min(fmCount, fm.Count));
        var fmTrain = TransformFactory.Train(TransformOptions.ForFashionMnist());
        var fmTrainRa = TransformFactory.Train(TransformOptions.ForFashionMnist() with { RandAugment = RandAugment.VMambaRecipe, ReProb = 0.25 });
        string fmName = FashionMnist.IsInstalled() ? "Fashion-MNIST" : "synthetic 28×28";
        Row($"{fmName} decode only", 1, PerSample(fmSubset, null));
        Row($"{fmName} train (pad-crop, flip, normalize)", 1, PerSample(fmSubset, fmTrain));
        Row($"{fmName} train + rand-m9-mstd0.5-inc1 + reprob 0.25", 1, PerSample(fmSubset, fmTrainRa));
        foreach (int w in new[] { 1, 2 })
            Row($"{fmName} train, PrefetchLoader batch 128", w, Loader(fmSubset, fmTrain, 128, w));

        using var dir = new TempFolder();
        WriteJpegs(dir.Path, jpegs);
        var folder = new ImageFolderDataset(dir.Path);
        var inTrain = TransformFactory.Train(TransformOptions.ForImageNet(224));
        var inEval = TransformFactory.Eval(TransformOptions.ForImageNet(224));
        Row("JPEG 500×375 decode only", 1, PerSample(folder, null));
        Row("JPEG → train 224 (RRC bicubic, flip, RandAugment, normalize, erasing)", 1, PerSample(folder, inTrain));
        Row("JPEG → eval 224 (resize 256, center crop, normalize)", 1, PerSample(folder, inEval));
        foreach (int w in new[] { 1, 2 })
            Row("JPEG → train 224, PrefetchLoader batch 32", w, Loader(folder, inTrain, 32, w));
        return 0;
    }

    static void Row(string name, int threads, double ips) => Console.WriteLine($"| {name} | {threads} | {ips:F0} |");

    /// <summary>Median img/s over 3 passes (after one warm-up pass) of Get + transform on this thread.</summary>
    static double PerSample(IImageDataset ds, ISampleTransform? t)
    {
        double Pass()
        {
            var rng = new Random(0);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < ds.Count; i++)
            {
                var s = ds.Get(i);
                if (t is not null) t.Apply(s, rng);
            }
            return ds.Count / sw.Elapsed.TotalSeconds;
        }
        Pass();
        var r = new[] { Pass(), Pass(), Pass() };
        Array.Sort(r);
        return r[1];
    }

    /// <summary>img/s of one epoch through the loader, tensors created and disposed, nothing else consuming.</summary>
    static double Loader(IImageDataset ds, ISampleTransform t, int batch, int workers)
    {
        var loader = new PrefetchLoader(ds, new LoaderOptions { BatchSize = batch, Workers = workers, PrefetchDepth = 4, SampleTransform = t, Seed = 1 });
        double Pass(int epoch)
        {
            long n = 0;
            var sw = Stopwatch.StartNew();
            foreach (var b in loader.Epoch(epoch)) using (b) n += b.Size;
            return n / sw.Elapsed.TotalSeconds;
        }
        Pass(0);
        var r = new[] { Pass(1), Pass(2), Pass(3) };
        Array.Sort(r);
        return r[1];
    }

    static void WriteJpegs(string root, int count)
    {
        var rng = new Random(7);
        for (int i = 0; i < count; i++)
        {
            string cls = Path.Combine(root, $"class{i % 4}");
            Directory.CreateDirectory(cls);
            int h = 375, w = 500;
            double fx = rng.NextDouble() * 0.05, fy = rng.NextDouble() * 0.05;
            var px = new float[3 * h * w];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        px[(c * h + y) * w + x] = (float)(0.5 + 0.4 * Math.Sin(fx * x * (c + 1) + fy * y) + 0.05 * rng.NextDouble());
            ImageDecoder.Save(new ImageSample(px, 3, h, w, 0), Path.Combine(cls, $"{i:D4}.jpg"), jpegQuality: 90);
        }
    }

    static IImageDataset SyntheticGray(int n) => new Synthetic(n);

    sealed class Synthetic(int n) : IImageDataset
    {
        public int Count => n;
        public IReadOnlyList<string> Classes { get; } = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();
        public ImageSample Get(int index)
        {
            var px = new float[784];
            for (int i = 0; i < 784; i++) px[i] = (index * 31 + i * 7) % 256 / 255f;
            return new ImageSample(px, 1, 28, 28, index % 10);
        }
    }

    sealed class Subset(IImageDataset inner, int n) : IImageDataset
    {
        public int Count => n;
        public IReadOnlyList<string> Classes => inner.Classes;
        public ImageSample Get(int index) => inner.Get(index);
    }

    sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("vssm-bench-data-").FullName;
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }
}
