using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>The classification losses of the reference recipes (docs/training.md §1).</summary>
public static class Losses
{
    /// <summary>timm <c>SoftTargetCrossEntropy</c>: <c>mean_b Σ_c −target[b,c]·log_softmax(logits)[b,c]</c> (Mixup/CutMix targets).</summary>
    public static Tensor SoftTargetCrossEntropy(Tensor logits, Tensor targets)
    {
        if (!logits.shape.SequenceEqual(targets.shape))
            throw new ArgumentException($"targets has shape [{string.Join(", ", targets.shape)}]; expected the logits' shape [{string.Join(", ", logits.shape)}].", nameof(targets));
        using var logp = nn.functional.log_softmax(logits, dim: -1);
        using var prod = targets * logp;
        using var perSample = prod.sum(dim: -1);
        return perSample.mean().neg_();
    }

    /// <summary>Cross-entropy with label smoothing ε (timm <c>LabelSmoothingCrossEntropy</c> = torch's <c>label_smoothing</c>).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, double smoothing) =>
        nn.functional.cross_entropy(logits, labels, label_smoothing: smoothing);
}
