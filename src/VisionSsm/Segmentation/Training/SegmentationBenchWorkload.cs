using TorchSharp;
using VisionSsm.Analysis;
using VisionSsm.Models;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Inference;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// A <see cref="SegmentationZoo"/> model as a benchmark workload (<c>vssm bench</c>). Inference is what
/// <c>vssm segment predict</c> and eval run per batch: the whole-image forward, logits resized to the input
/// (<see cref="SegmentationPredictor.For"/>, mode "whole"), and the argmax label map. The training loss is the
/// trainer's (<see cref="SegmentationLoss.Total"/>: main + 0.4 × auxiliary cross entropy) against a random label map in
/// which <see cref="IgnoreFraction"/> of the pixels carry the ignore label. The model is built with its recipe's drop
/// path, for the point's larger side (only backbones whose parameters depend on the size care).
/// </summary>
public sealed class SegmentationBenchWorkload : IBenchWorkload
{
    /// <summary>Share of ignore (255) pixels in the synthetic label map, roughly ADE20K's unlabelled share.</summary>
    public const double IgnoreFraction = 0.1;

    readonly SegmentationEntry entry;

    /// <param name="model">a <see cref="SegmentationZoo"/> name (unknown: <see cref="ArgumentException"/> listing the known ones)</param>
    /// <param name="numClasses">classes of the heads (ADE20K's 150 by default)</param>
    public SegmentationBenchWorkload(string model, int numClasses = 150)
    {
        entry = SegmentationZoo.Get(model);
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected ≥ 1.");
        NumClasses = numClasses;
    }

    public string Model => entry.Name;
    public int DefaultImageSize => entry.CropSize;
    public int NumClasses { get; }

    public nn.Module Build(BenchSize size, int inChannels, Device? device) =>
        entry.Create(new ModelOptions(NumClasses, inChannels, Math.Max(size.Height, size.Width), Device: device));

    public void Infer(nn.Module model, Tensor images)
    {
        var net = (SegmentationModel)model;
        using var scores = SegmentationPredictor.For(net, "whole", entry.CropSize, null)(images);
        using var labels = SegmentationInference.Labels(scores);
    }

    public Func<Tensor> TrainingLoss(nn.Module model, Tensor images)
    {
        var net = (SegmentationModel)model;
        long b = images.shape[0], h = images.shape[2], w = images.shape[3];
        var masks = randint(0, NumClasses, [b, h, w], dtype: ScalarType.Int64, device: images.device);
        using (var fraction = IgnoreFraction.ToScalar())
        using (var ignoreLabel = ((long)SegmentationLabels.IgnoreIndex).ToScalar())
        using (var uniform = rand([b, h, w], device: images.device))
        using (var ignore = uniform.lt(fraction))
            masks.masked_fill_(ignore, ignoreLabel);
        double auxWeight = new SegmentationTrainConfig().AuxWeight;
        return () =>
        {
            var (main, aux) = net.ForwardTrain(images);
            return SegmentationLoss.Total(main, aux, masks, auxWeight);
        };
    }
}
