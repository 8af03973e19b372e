namespace VisionSsm.Models;

/// <summary>The resampling filter a model's evaluation resize uses (timm <c>pretrained_cfg["interpolation"]</c>).</summary>
public enum ImageInterpolation
{
    Nearest,
    Bilinear,
    Bicubic,
}
