namespace VisionSsm.Data;

/// <summary>
/// An MNIST-family data set from an idx images file (N, H, W) and an idx labels file (N), gzip or raw.
/// The bytes stay in memory (Fashion-MNIST train: 47 MB) and each <see cref="Get"/> converts one image to
/// floats in [0, 1] (1 channel).
/// </summary>
public sealed class IdxDataset : IImageDataset
{
    readonly byte[] images;
    readonly byte[] labels;

    public IdxDataset(string imagesPath, string labelsPath, IReadOnlyList<string>? classes = null)
    {
        var (imageDims, imageData) = IdxFile.Read(imagesPath);
        if (imageDims.Length != 3)
            throw new InvalidDataException($"{imagesPath}: an images file needs 3 idx dimensions (N, H, W); it has {imageDims.Length} [{string.Join(", ", imageDims)}].");
        var (labelDims, labelData) = IdxFile.Read(labelsPath);
        if (labelDims.Length != 1)
            throw new InvalidDataException($"{labelsPath}: a labels file needs 1 idx dimension (N); it has {labelDims.Length} [{string.Join(", ", labelDims)}].");
        if (labelDims[0] != imageDims[0])
            throw new InvalidDataException($"{labelsPath} holds {labelDims[0]} labels but {imagesPath} holds {imageDims[0]} images.");
        Classes = classes ?? GuessClasses(imagesPath);
        int maxLabel = labelData.Length == 0 ? -1 : labelData.Max();
        if (maxLabel >= Classes.Count)
            throw new InvalidDataException($"{labelsPath}: label {maxLabel} is out of range for {Classes.Count} classes.");
        images = imageData;
        labels = labelData;
        Count = imageDims[0];
        Height = imageDims[1];
        Width = imageDims[2];
        ImagesPath = imagesPath;
    }

    /// <summary>Loads the train or test split from a directory holding the standard file names (see <see cref="IdxSplit"/>).</summary>
    public static IdxDataset Load(string directory, bool train, IReadOnlyList<string>? classes = null)
    {
        var (imagesPath, labelsPath) = IdxSplit.Find(directory, train);
        return new IdxDataset(imagesPath, labelsPath, classes);
    }

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public string ImagesPath { get; }
    public IReadOnlyList<string> Classes { get; }

    public ImageSample Get(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"expected 0 ≤ index < {Count}.");
        int n = Height * Width;
        var pixels = new float[n];
        var src = images.AsSpan(index * n, n);
        for (int i = 0; i < n; i++) pixels[i] = src[i] / 255f;
        return new ImageSample(pixels, 1, Height, Width, labels[index]);
    }

    /// <summary>The label of item <paramref name="index"/> without decoding the image.</summary>
    public int LabelOf(int index) => labels[index];

    /// <summary>Fashion-MNIST's names when the path says "fashion", else the digits "0".."9" (MNIST and unknown sets).</summary>
    static IReadOnlyList<string> GuessClasses(string imagesPath) =>
        imagesPath.Contains("fashion", StringComparison.OrdinalIgnoreCase) ? FashionMnist.ClassNames : Digits;

    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
}
