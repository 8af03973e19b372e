using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Models;

/// <summary>
/// Options every zoo model honours the same way (timm <c>create_model</c>'s keyword arguments): classes (0 = no head,
/// the model returns pooled features), input channels, image size (null = the variant's default), drop-path rate
/// (null = the variant's default), device and dtype (null = CPU, float32; float64 for gradient checks).
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
        // The CPU scan and GEMM kernels are written for float32 and float64; half-precision weights are converted on load.
        if (Dtype is { } t && t is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentOutOfRangeException(nameof(Dtype), Dtype, "Dtype must be Float32 or Float64");
    }

    /// <summary>Moves a freshly built model to <see cref="Dtype"/> and <see cref="Device"/>.</summary>
    internal void Apply(nn.Module model)
    {
        if (Dtype is { } t && t != ScalarType.Float32) model.to(t);
        if (Device is not null) model.to(Device);
    }
}
