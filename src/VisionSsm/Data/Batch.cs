using static TorchSharp.torch;

namespace VisionSsm.Data;

/// <summary>
/// One mini-batch: images (B, C, H, W) float32 and targets, either int64 class indices (B) or soft targets
/// (B, classes) after Mixup/CutMix. <see cref="Labels"/> always holds the hard labels (for accuracy).
/// </summary>
public sealed class Batch(Tensor images, Tensor targets, Tensor labels) : IDisposable
{
    public Tensor Images { get; } = images;
    public Tensor Targets { get; } = targets;
    public Tensor Labels { get; } = labels;
    public long Size => Images.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        if (!ReferenceEquals(Targets, Labels)) Targets.Dispose();
        Labels.Dispose();
    }
}
