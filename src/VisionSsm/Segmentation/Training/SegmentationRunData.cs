using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using ZooPreprocessing = VisionSsm.Models.Preprocessing;

namespace VisionSsm.Segmentation.Training;

/// <summary>The splits of a segmentation run, its class names and the normalisation statistics.</summary>
public sealed record SegmentationData(ISegmentationDataset Train, ISegmentationDataset Test, IReadOnlyList<string> Classes, int Channels,
    float[] Mean, float[] Std);

/// <summary>
/// Opens the data a <see cref="SegmentationTrainConfig"/> names: the embedded Fashion-MNIST canvases (composed in memory,
/// deterministic, train canvases from the train split and test canvases from the test split) when <c>Data</c> is null,
/// otherwise an ADE20K, Pascal VOC or images/ + masks/ folder. Statistics: ImageNet's for 3-channel folders (mmseg's
/// data_preprocessor), measured over the first 256 training images otherwise.
/// </summary>
public static class SegmentationRunData
{
    /// <summary>The composer settings of the embedded canvases a run config names.</summary>
    public static CanvasOptions Canvases(SegmentationTrainConfig config)
    {
        var options = new CanvasOptions { TrainCount = config.CanvasTrain, TestCount = config.CanvasTest };
        return config.CanvasMaxOverlap is { } cap ? options with { MaxOverlap = cap } : options;
    }

    public static SegmentationData Open(SegmentationTrainConfig config, float[]? mean = null, float[]? std = null)
    {
        ISegmentationDataset train, test;
        if (config.Data is null)
        {
            var options = Canvases(config);
            train = FashionMnistCanvas.Open(train: true, options);
            test = FashionMnistCanvas.Open(train: false, options);
        }
        else
        {
            if (!Directory.Exists(config.Data)) throw new DirectoryNotFoundException($"--data: directory '{config.Data}' does not exist.");
            train = SegmentationDirectory.Open(config.Data, train: true, channels: 0);
            test = SegmentationDirectory.Open(config.Data, train: false, train.Classes, channels: 0);
        }
        if (train.Count == 0) throw new InvalidDataException($"--data: the training split of '{config.Data ?? "canvases"}' is empty.");
        if (test.Count == 0) throw new InvalidDataException($"--data: the test split of '{config.Data ?? "canvases"}' is empty.");
        if (!train.Classes.SequenceEqual(test.Classes))
            throw new InvalidDataException("--data: the train and test splits name different classes.");
        var first = train.Get(0);
        if (mean is null || std is null)
            (mean, std) = config.Data is not null && first.Channels == 3
                ? (ZooPreprocessing.ImageNetMean, ZooPreprocessing.ImageNetStd)
                : Measure(train, first.Channels);
        return new SegmentationData(train, test, train.Classes, first.Channels, mean, std);
    }

    /// <summary>Per-channel mean and standard deviation over up to 256 training images.</summary>
    public static (float[] Mean, float[] Std) Measure(ISegmentationDataset data, int channels) =>
        Measure(data.Count, i => data.Get(i) is var s && s.Channels == channels ? s.Pixels : null, channels);

    /// <summary>Per-channel mean and standard deviation of the (C, H, W) pixels of items 0..min(256, count) − 1 (null = skip the item).</summary>
    public static (float[] Mean, float[] Std) Measure(int count, Func<int, float[]?> pixelsOf, int channels)
    {
        var sum = new double[channels];
        var sq = new double[channels];
        long n = 0;
        for (int i = 0; i < Math.Min(256, count); i++)
        {
            if (pixelsOf(i) is not { } px) continue;
            int plane = px.Length / channels;
            for (int c = 0; c < channels; c++)
                for (int k = 0; k < plane; k++) { double v = px[c * plane + k]; sum[c] += v; sq[c] += v * v; }
            n += plane;
        }
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double m = sum[c] / Math.Max(n, 1);
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(Math.Max(sq[c] / Math.Max(n, 1) - m * m, 0)), 1e-3);
        }
        return (mean, std);
    }
}
