namespace VisionSsm.Segmentation.Data;

/// <summary>
/// The Pascal VOC 2012 segmentation layout: <c>JPEGImages/&lt;id&gt;.jpg</c>, <c>SegmentationClass/&lt;id&gt;.png</c>
/// (palette PNGs: the palette index is the label, 0 = background, 255 = object border, ignored) and the split lists
/// <c>ImageSets/Segmentation/{train,val}.txt</c> (one id per line). The root may be the VOC2012 folder itself,
/// <c>VOCdevkit</c> or the folder holding <c>VOCdevkit</c>.
/// </summary>
public static class PascalVoc
{
    /// <summary>The 21 labels (mmseg <c>mmseg/datasets/voc.py</c>).</summary>
    public static readonly IReadOnlyList<string> ClassNames =
    [
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
        "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    /// <summary>The folder holding JPEGImages/ under <paramref name="root"/>, or null.</summary>
    public static string? FindRoot(string root)
    {
        foreach (var r in new[] { root, Path.Combine(root, "VOC2012"), Path.Combine(root, "VOCdevkit", "VOC2012") })
            if (Directory.Exists(Path.Combine(r, "JPEGImages")) && Directory.Exists(Path.Combine(r, "SegmentationClass"))) return r;
        return null;
    }

    public static bool Matches(string root) => FindRoot(root) is not null;

    /// <summary>The train or val list's pairs (RGB images).</summary>
    public static SegmentationFileDataset Open(string root, bool train, int channels = 3)
    {
        string voc = FindRoot(root) ?? throw new DirectoryNotFoundException(
            $"{root}: the Pascal VOC layout needs JPEGImages/ and SegmentationClass/ (here, in VOC2012/ or in VOCdevkit/VOC2012/).");
        string split = train ? "train" : "val";
        string list = Path.Combine(voc, "ImageSets", "Segmentation", split + ".txt");
        if (!File.Exists(list)) throw new FileNotFoundException($"{voc}: split list not found: {list} (one image id per line).", list);
        var ids = File.ReadAllLines(list).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (ids.Count == 0) throw new InvalidDataException($"{list} lists no image ids.");
        var pairs = new List<(string, string)>();
        var missing = new List<string>();
        foreach (var id in ids)
        {
            string img = Path.Combine(voc, "JPEGImages", id + ".jpg"), mask = Path.Combine(voc, "SegmentationClass", id + ".png");
            if (!File.Exists(img)) missing.Add(img);
            if (!File.Exists(mask)) missing.Add(mask);
            pairs.Add((img, mask));
        }
        if (missing.Count > 0)
            throw new FileNotFoundException(
                $"{list}: {missing.Count} listed file(s) do not exist: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}.");
        return new SegmentationFileDataset(pairs, ClassNames, reduceZeroLabel: false, channels, voc);
    }
}
