namespace VisionSsm.Data.Transforms;

/// <summary>
/// Options of the train/eval pipelines built by <see cref="TransformFactory"/> — timm's <c>create_transform</c> arguments.
/// <see cref="ForImageNet"/> gives the VMamba recipe (docs/training.md §1); <see cref="ForSmallImages"/> the
/// pad-and-crop recipe for 28/32-pixel data such as Fashion-MNIST or CIFAR.
/// </summary>
public sealed record TransformOptions
{
    /// <summary>Output side (square).</summary>
    public int ImageSize { get; init; } = 224;
    /// <summary>Channels the model expects (1 or 3); samples are converted first. 0 keeps the data's channels.</summary>
    public int Channels { get; init; } = 3;
    public Interpolation Interpolation { get; init; } = Interpolation.Bicubic;
    /// <summary>Small-image mode: pad by <see cref="Padding"/> and random-crop instead of RandomResizedCrop.</summary>
    public bool SmallImage { get; init; }
    public int Padding { get; init; } = 4;
    public double ScaleMin { get; init; } = 0.08;
    public double ScaleMax { get; init; } = 1.0;
    public double RatioMin { get; init; } = 3.0 / 4;
    public double RatioMax { get; init; } = 4.0 / 3;
    public double HFlip { get; init; } = 0.5;
    /// <summary>timm <c>--aa</c>, e.g. <c>rand-m9-mstd0.5-inc1</c>; null = none.</summary>
    public string? RandAugment { get; init; }
    /// <summary>timm <c>--color-jitter</c>; as in timm it is only used when no RandAugment is set (or when forced).</summary>
    public double? ColorJitter { get; init; }
    public bool ForceColorJitter { get; init; }
    /// <summary>timm <c>--reprob</c>; 0 = off.</summary>
    public double ReProb { get; init; }
    public ErasingMode ReMode { get; init; } = ErasingMode.Pixel;
    public int ReCount { get; init; } = 1;
    public IReadOnlyList<float> Mean { get; init; } = Normalize.ImageNetMean;
    public IReadOnlyList<float> Std { get; init; } = Normalize.ImageNetStd;
    /// <summary>Eval: resize to floor(size / cropPct) then center-crop (timm default 0.875).</summary>
    public double CropPct { get; init; } = 0.875;

    /// <summary>VMamba's ImageNet recipe: bicubic RandomResizedCrop, flip, rand-m9-mstd0.5-inc1, reprob 0.25 pixel.</summary>
    public static TransformOptions ForImageNet(int size = 224) => new()
    {
        ImageSize = size, RandAugment = VisionSsm.Data.Transforms.RandAugment.VMambaRecipe, ColorJitter = 0.4, ReProb = 0.25,
    };

    /// <summary>Small images (Fashion-MNIST/MNIST/CIFAR): pad-4 random crop + flip, the data's own statistics.</summary>
    public static TransformOptions ForSmallImages(int size, int channels, IReadOnlyList<float> mean, IReadOnlyList<float> std) => new()
    {
        ImageSize = size, Channels = channels, SmallImage = true, Padding = 4, Mean = mean, Std = std,
        Interpolation = Interpolation.Bilinear, CropPct = 1.0,
    };

    /// <summary>Fashion-MNIST at its native 28 px (or resized to <paramref name="size"/>).</summary>
    public static TransformOptions ForFashionMnist(int size = 28, int channels = 1) =>
        ForSmallImages(size, channels, Normalize.FashionMnistMean, Normalize.FashionMnistStd);
}
