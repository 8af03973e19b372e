namespace VisionSsm.Models;

/// <summary>
/// How a zoo variant's inputs are prepared for evaluation, like timm's <c>pretrained_cfg</c>: normalisation
/// statistics (one value per input channel, or one for all), the square input side, the center-crop fraction
/// (resize the shorter side to <c>InputSize / CropPct</c>, then crop; 1 = no crop) and the resize filter.
/// </summary>
public sealed record Preprocessing(float[] Mean, float[] Std, int InputSize, double CropPct, ImageInterpolation Interpolation)
{
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];
    /// <summary>Fashion-MNIST training-set statistics, mean 0.2860 and std 0.3530 over all 47M pixels (the default data set of <c>vssm train</c>).</summary>
    public static readonly float[] FashionMnistMean = [0.2860f];
    public static readonly float[] FashionMnistStd = [0.3530f];

    /// <summary>
    /// ImageNet evaluation at <paramref name="size"/>: resize to size / cropPct, center crop. 0.875 bicubic is what the
    /// official VMamba (<c>classification/config.py</c>: crop 0.875 via resize 256 → 224, bicubic), Vim and DeiT
    /// (<c>datasets.py</c>: eval_crop_ratio 0.875, bicubic) evaluate with.
    /// </summary>
    public static Preprocessing ImageNet(int size = 224, double cropPct = 0.875, ImageInterpolation interpolation = ImageInterpolation.Bicubic) =>
        new(ImageNetMean, ImageNetStd, size, cropPct, interpolation);

    /// <summary>
    /// The small-image variants as <c>vssm train</c> trains them by default: Fashion-MNIST statistics, the native
    /// side, no crop, bilinear resize when an image has another size.
    /// </summary>
    public static Preprocessing FashionMnist(int size = 28) =>
        new(FashionMnistMean, FashionMnistStd, size, 1.0, ImageInterpolation.Bilinear);

    /// <summary>The same preprocessing at another input side (crop fraction and statistics kept).</summary>
    public Preprocessing WithInputSize(int size) => this with { InputSize = size };
}
