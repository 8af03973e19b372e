using TorchSharp;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>A segmentation model ready for inference: weights, class names, normalisation and test mode.</summary>
public sealed record SegmentationInferenceModel(SegmentationModel Model, string Name, IReadOnlyList<string> Classes, float[] Mean, float[] Std,
    int CropSize, string TestMode, int? SlideStride) : IDisposable
{
    public void Dispose() => Model.Dispose();
}

/// <summary>Opens checkpoints for <c>vssm segment eval|predict</c> and turns images into label maps.</summary>
public static class SegmentationPredictor
{
    /// <summary>
    /// The logits function of a test mode: "whole" = <see cref="SegmentationModel.Predict"/> on the whole image; "slide" =
    /// overlapping crop×crop windows with the given stride (default 2/3 of the crop), logits averaged where they overlap.
    /// </summary>
    public static Func<Tensor, Tensor> For(SegmentationModel model, string mode, int crop, int? stride) => mode switch
    {
        "whole" => model.Predict,
        "slide" => x => SlidingWindow(model, x, crop, stride ?? Math.Max(1, crop * 2 / 3)),
        _ => throw new ArgumentException($"--test-mode '{mode}': expected whole or slide.", "test-mode"),
    };

    /// <summary>mmseg <c>slide_inference</c>: windows of crop×crop at the given stride (the last flush with the border), summed logits / counts.</summary>
    public static Tensor SlidingWindow(SegmentationModel model, Tensor x, int crop, int stride)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], h = x.shape[2], w = x.shape[3];
        int rows = (int)Math.Max(h - crop + stride - 1, 0) / stride + 1, cols = (int)Math.Max(w - crop + stride - 1, 0) / stride + 1;
        var sum = zeros([b, model.NumClasses, h, w], dtype: x.dtype, device: x.device);
        var count = zeros([1, 1, h, w], dtype: x.dtype, device: x.device);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                long y1 = Math.Max(Math.Min((long)r * stride + crop, h) - crop, 0), x1 = Math.Max(Math.Min((long)c * stride + crop, w) - crop, 0);
                long y2 = Math.Min(y1 + crop, h), x2 = Math.Min(x1 + crop, w);
                var window = x.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1);
                var logits = model.Predict(window);
                sum.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(logits, Runtime.Scalars.One);
                count.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(Runtime.Scalars.One, Runtime.Scalars.One);
            }
        return sum.div(count).MoveToOuterDisposeScope();
    }

    /// <summary>The predicted label map (H·W bytes) of each sample.</summary>
    public static IReadOnlyList<byte[]> Labels(SegmentationModel model, IReadOnlyList<SegmentationSample> samples, float[] mean, float[] std,
        Func<Tensor, Tensor>? predict = null, Device? device = null)
    {
        bool wasTraining = model.training;
        model.eval();
        predict ??= model.Predict;
        var batcher = new SegmentationBatcher(new ListDataset(samples), new SegmentationTrainConfig { BatchSize = 1 }, 0, mean, std);
        var result = new List<byte[]>();
        try
        {
            using var _ = no_grad();
            foreach (var s in samples)
            {
                using var scope = NewDisposeScope();
                using var batch = batcher.Collate([s], device);
                var pred = predict(batch.Images).argmax(1).to(ScalarType.Byte).cpu();
                result.Add(pred.data<byte>().ToArray());
            }
        }
        finally { if (wasTraining) model.train(); }
        return result;
    }

    sealed class ListDataset(IReadOnlyList<SegmentationSample> items) : ISegmentationDataset
    {
        public int Count => items.Count;
        public IReadOnlyList<string> Classes => [];
        public SegmentationSample Get(int index) => items[index];
    }

    /// <summary>
    /// Opens a VisionSsm segmentation checkpoint (<c>.ckpt</c>: model, classes, normalisation and test mode recorded) or
    /// an official mmseg checkpoint (<c>.pth</c>; then <paramref name="modelName"/> is required, classes are the label
    /// indices and the normalisation ImageNet's).
    /// </summary>
    public static SegmentationInferenceModel Open(string path, string? modelName = null, bool ema = false, int numClasses = 150, Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist.", path);
        if (!PretrainedWeights.IsWeightsFile(path))
        {
            using var ckpt = Checkpoint.Load(path);
            var info = ckpt.Info;
            if (info.TaskConfig is null) throw new InvalidDataException($"'{path}' is a classification checkpoint; `vssm segment` needs a segmentation one.");
            var config = SegmentationTrainConfig.FromJson(info.TaskConfig);
            var entry = SegmentationZoo.Get(modelName ?? info.ModelName);
            var model = entry.Create(new ModelOptions(info.Classes.Count, info.Preprocessing.Channels, info.Preprocessing.ImageSize, 0, device));
            var state = ema ? ckpt.Ema ?? throw new ArgumentException("--ema: the checkpoint holds no EMA weights.", "ema") : ckpt.Model;
            Checkpoint.LoadInto(model, state);
            model.eval();
            return new SegmentationInferenceModel(model, entry.Name, info.Classes, info.Preprocessing.Mean, info.Preprocessing.Std,
                info.Preprocessing.ImageSize, config.TestMode, config.SlideStride);
        }
        if (modelName is null)
            throw new ArgumentException($"'{path}' is an official weights file, which does not record its model: name it with --model " +
                                        $"(known: {string.Join(", ", SegmentationZoo.Names)}).", "model");
        var e = SegmentationZoo.Get(modelName);
        var net = e.Create(new ModelOptions(numClasses, 3, e.CropSize, 0, device));
        var sd = PretrainedWeights.ReadStateDict(path);
        try { net.LoadWeights(sd); }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        net.eval();
        var classes = Enumerable.Range(0, numClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        return new SegmentationInferenceModel(net, modelName, classes, VisionSsm.Models.Preprocessing.ImageNetMean, VisionSsm.Models.Preprocessing.ImageNetStd,
            e.CropSize, "whole", null);
    }
}
