using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Models;

/// <summary>
/// Options every zoo model honours the same way (timm <c>create_model</c>'s keyword arguments): classes (0 = no head,
/// the model returns pooled features), input channels, image size (null = the variant's default), drop-path rate
/// (null = the variant's default), device and dtype (null = CPU, float32).
/// </summary>
public sealed record ModelOptions(int NumClasses = 1000, int InChannels = 3, int? ImageSize = null,
    double? DropPathRate = null, Device? Device = null, ScalarType? Dtype = null)
{
    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (NumClasses < 0) throw new ArgumentOutOfRangeException(nameof(NumClasses), NumClasses, "NumClasses must be ≥ 0 (0 = no classifier)");
        if (InChannels < 1) throw new ArgumentOutOfRangeException(nameof(InChannels), InChannels, "InChannels must be ≥ 1");
        if (ImageSize is < 1) throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "ImageSize must be ≥ 1");
        if (DropPathRate is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(DropPathRate), DropPathRate, "DropPathRate must be in [0, 1)");
        if (Dtype is { } t && t is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentOutOfRangeException(nameof(Dtype), Dtype, "Dtype must be a floating-point type");
    }

    /// <summary>Moves a freshly built model to <see cref="Dtype"/> and <see cref="Device"/>.</summary>
    internal void Apply(nn.Module model)
    {
        if (Dtype is { } t && t != ScalarType.Float32) model.to(t);
        if (Device is not null) model.to(Device);
    }
}
