using static TorchSharp.torch;

namespace VisionSsm.Data;

/// <summary>A per-sample augmentation or preprocessing step (crop, flip, RandAugment, normalise, …).</summary>
public interface ISampleTransform
{
    /// <summary>Transforms one sample; <paramref name="rng"/> is the only source of randomness (repeatable runs).</summary>
    ImageSample Apply(ImageSample sample, Random rng);
}

/// <summary>A per-batch transform such as Mixup/CutMix, producing soft targets.</summary>
public interface IBatchTransform
{
    /// <summary>Images (B, C, H, W) and int64 labels (B) → images and float targets (B, classes).</summary>
    (Tensor Images, Tensor Targets) Apply(Tensor images, Tensor labels, int numClasses, Random rng);
}
