using static TorchSharp.torch;

namespace VisionSsm.Models;

/// <summary>
/// The contract every zoo model implements, with the same meaning in every family (timm's model API:
/// <c>forward_features</c>, <c>forward_head</c>, <c>reset_classifier</c>, <c>forward_intermediates</c>,
/// <c>feature_info</c>). <c>forward(x)</c> is exactly <c>ForwardHead(ForwardFeatures(x))</c>.
/// </summary>
public interface IVisionModel
{
    /// <summary>
    /// The final features before pooling: hierarchical models (VMamba, ResNet, vGamba) the last stage map
    /// (B, C, H, W) after the final norm; plain models (Vim, ViT/DeiT) the normalised token sequence (B, L, D)
    /// including the class token.
    /// </summary>
    Tensor ForwardFeatures(Tensor x);

    /// <summary>
    /// Pooling (or the class-token pick) and the classifier. With <paramref name="preLogits"/> the pooled
    /// (B, <see cref="NumFeatures"/>) features, before the classifier.
    /// </summary>
    Tensor ForwardHead(Tensor features, bool preLogits = false);

    /// <summary>Replaces the classifier with a freshly initialised one of <paramref name="numClasses"/> outputs; 0 = identity.</summary>
    void ResetClassifier(int numClasses);

    /// <summary>Width of the pooled features the classifier reads.</summary>
    int NumFeatures { get; }

    /// <summary>Classifier outputs; 0 when the head is the identity.</summary>
    int NumClasses { get; }

    /// <summary>
    /// Intermediate feature maps (B, C, H, W) for the <see cref="FeatureInfo"/> indices given (null = the model's
    /// default), in the order given. Hierarchical models: stage maps; plain models: block outputs with the class
    /// token removed, reshaped to the patch grid. An unknown index throws <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    IReadOnlyList<Tensor> ForwardIntermediates(Tensor x, IReadOnlyList<int>? indices = null);

    /// <summary>The maps <see cref="ForwardIntermediates"/> can return.</summary>
    IReadOnlyList<FeatureInfo> FeatureInfo { get; }
}
