using TorchSharp;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// A classification zoo model as a benchmark workload: inference is the forward pass to the logits; the training loss
/// is cross entropy against random labels (VMamba Table 4's training throughput). The model is built for the point's
/// size, which only matters for backbones whose parameters depend on it (Vim, DeiT, vGamba).
/// </summary>
public sealed class ClassificationWorkload : IBenchWorkload
{
    readonly ModelEntry entry;

    /// <param name="model">a <see cref="ModelZoo"/> name (unknown: <see cref="ArgumentException"/> listing the known ones)</param>
    /// <param name="numClasses">classifier outputs (ImageNet's 1000 by default)</param>
    public ClassificationWorkload(string model, int numClasses = 1000)
    {
        entry = ModelZoo.Get(model);
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected ≥ 1.");
        NumClasses = numClasses;
    }

    public string Model => entry.Name;
    public int DefaultImageSize => entry.DefaultImageSize;
    public int NumClasses { get; }

    public nn.Module Build(BenchSize size, int inChannels, Device? device)
    {
        if (!size.IsSquare)
            throw new ArgumentException($"classification models are measured at square sizes (N); got {size}.", nameof(size));
        return ModelZoo.Create(entry.Name, new ModelOptions(NumClasses, inChannels, size.Height, 0, device));
    }

    public void Infer(nn.Module model, Tensor images) => Forward(model, images).Dispose();

    public Func<Tensor> TrainingLoss(nn.Module model, Tensor images)
    {
        var labels = randint(0, NumClasses, [images.shape[0]], dtype: ScalarType.Int64, device: images.device);
        return () => nn.functional.cross_entropy(Forward(model, images), labels);
    }

    static Tensor Forward(nn.Module model, Tensor images) => ((nn.Module<Tensor, Tensor>)model).forward(images);
}
