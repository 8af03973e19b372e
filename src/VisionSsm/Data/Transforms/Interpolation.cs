namespace VisionSsm.Data.Transforms;

/// <summary>Resampling filter (PIL/torchvision names): timm trains ImageNet models with bicubic.</summary>
public enum Interpolation
{
    Nearest,
    Bilinear,
    Bicubic,
}

public static class InterpolationNames
{
    public static Interpolation Parse(string name) => name.ToLowerInvariant() switch
    {
        "nearest" => Interpolation.Nearest,
        "bilinear" or "linear" => Interpolation.Bilinear,
        "bicubic" or "cubic" => Interpolation.Bicubic,
        _ => throw new ArgumentException($"unknown interpolation '{name}'; expected nearest, bilinear or bicubic.", nameof(name)),
    };
}
