using TorchSharp;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Segmentation.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// A segmentation model ready for inference: weights, class names, normalisation and test mode; for a model trained on
/// the embedded canvases, the composer settings it was trained with (so evaluation composes the same kind of canvases).
/// </summary>
public sealed record SegmentationInferenceModel(SegmentationModel Model, string Name, IReadOnlyList<string> Classes, float[] Mean, float[] Std,
    int CropSize, string TestMode, int? SlideStride, CanvasOptions? Canvases = null) : IDisposable
{
    public void Dispose() => Model.Dispose();
}

/// <summary>Opens checkpoints for <c>vssm segment eval|predict</c> and turns images into label maps.</summary>
public static class SegmentationPredictor
{
    /// <summary>
    /// The scoring function of a test mode over <see cref="SegmentationInference.Predict"/>: "whole" = the whole image,
    /// "slide" = crop×crop windows at the stride (default 2/3 of the crop), mmseg's <c>slide_inference</c>; with
    /// <paramref name="tta"/> the multi-scale (0.5–1.75) + flip average of softmax scores.
    /// </summary>
    public static Func<Tensor, Tensor> For(SegmentationModel model, string mode, int crop, int? stride, bool tta = false)
    {
        var options = mode switch
        {
            "whole" => new InferenceOptions(),
            "slide" => new InferenceOptions
            {
                Mode = InferenceMode.Slide, CropHeight = crop, CropWidth = crop,
                StrideHeight = stride ?? Math.Max(1, crop * 2 / 3), StrideWidth = stride ?? Math.Max(1, crop * 2 / 3),
            },
            _ => throw new ArgumentException($"--test-mode '{mode}': expected whole or slide.", "test-mode"),
        };
        if (tta) options = options with { Scales = InferenceOptions.MultiScaleRatios, Flip = true };
        return x => SegmentationInference.Predict(model.forward, x, options);
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
                info.Preprocessing.ImageSize, config.TestMode, config.SlideStride, config.Data is null ? SegmentationRunData.Canvases(config) : null);
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
