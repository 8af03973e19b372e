using VisionSsm.Data;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// Image files paired with label-map files (the common form of every on-disk layout: <see cref="Ade20k"/>,
/// <see cref="PascalVoc"/>, <see cref="SegmentationFolders"/>). Only paths are held; each <see cref="Get"/> decodes
/// the image (SkiaSharp, <see cref="ImageDecoder"/>) and the mask (<see cref="LabelPng"/>), applies
/// reduce-zero-label when asked, and checks that the sizes agree and every label is a class or the ignore label;
/// errors name the files.
/// </summary>
public sealed class SegmentationFileDataset : ISegmentationDataset
{
    readonly (string Image, string Mask)[] pairs;

    /// <param name="pairs">(image path, mask path) per item, in item order.</param>
    /// <param name="classes">class names, indexed by (reduced) label.</param>
    /// <param name="reduceZeroLabel">mmseg's <c>reduce_zero_label</c>: stored 0 → 255 (ignored), other labels − 1.</param>
    /// <param name="channels">1 or 3 to convert every image; 0 = detect from the first image (gray → 1, else 3).</param>
    public SegmentationFileDataset(IReadOnlyList<(string Image, string Mask)> pairs, IReadOnlyList<string> classes,
        bool reduceZeroLabel = false, int channels = 3, string? source = null)
    {
        if (channels is not (0 or 1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected 0 (detect), 1 or 3.");
        if (classes.Count is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(classes), classes.Count, "expected 1 to 255 classes (255 is the ignore label).");
        if (pairs.Count == 0) throw new InvalidDataException($"{source ?? "segmentation data set"}: no image/mask pairs.");
        this.pairs = pairs.ToArray();
        Classes = classes;
        ReduceZeroLabel = reduceZeroLabel;
        Source = source ?? Path.GetDirectoryName(this.pairs[0].Image) ?? "";
        Channels = channels != 0 ? channels : ImageDecoder.Decode(this.pairs[0].Image).Channels;
    }

    public int Count => pairs.Length;
    public IReadOnlyList<string> Classes { get; }
    public bool ReduceZeroLabel { get; }
    /// <summary>Channels of every returned image.</summary>
    public int Channels { get; }
    /// <summary>Where the items come from (for messages).</summary>
    public string Source { get; }

    public (string Image, string Mask) PathsOf(int index) => pairs[index];

    public SegmentationSample Get(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"expected 0 ≤ index < {Count}.");
        var (imagePath, maskPath) = pairs[index];
        var image = ImageDecoder.Decode(imagePath, 0, Channels);
        var (mask, h, w) = LabelPng.Read(maskPath);
        if (h != image.Height || w != image.Width)
            throw new InvalidDataException($"{maskPath}: mask is {w}×{h} but its image {imagePath} is {image.Width}×{image.Height}; expected equal sizes.");
        if (ReduceZeroLabel) Reduce(mask);
        SegmentationLabels.Validate(mask, Classes.Count, maskPath + (ReduceZeroLabel ? " (after reduce-zero-label)" : ""));
        return new SegmentationSample(image.Pixels, image.Channels, image.Height, image.Width, mask);
    }

    /// <summary>Decodes every item once (a full check of sizes and labels); throws at the first bad pair.</summary>
    public void ValidateAll()
    {
        for (int i = 0; i < Count; i++) Get(i);
    }

    /// <summary>mmseg's reduce_zero_label: 0 → 255, v → v − 1, and 255 stays 255 (254 is mapped back to 255).</summary>
    public static void Reduce(Span<byte> mask)
    {
        for (int i = 0; i < mask.Length; i++)
            mask[i] = mask[i] is 0 or 255 ? SegmentationLabels.IgnoreIndex : (byte)(mask[i] - 1);
    }
}
