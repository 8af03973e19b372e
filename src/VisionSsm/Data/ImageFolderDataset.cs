namespace VisionSsm.Data;

/// <summary>
/// torchvision ImageFolder: <c>root/&lt;class&gt;/*.{jpg,jpeg,png,…}</c>, classes = subdirectory names in ordinal
/// order, files in ordinal order within each class. Only paths are listed up front; each <see cref="Get"/> decodes
/// its file (SkiaSharp), so corrupt files surface as <see cref="ImageReadException"/>s naming the path.
/// </summary>
public sealed class ImageFolderDataset : IImageDataset
{
    readonly (string Path, int Label)[] items;

    /// <param name="root">the directory holding one subdirectory per class.</param>
    /// <param name="channels">1 or 3 to convert every image; 0 = detect from the first readable file (gray → 1, else 3).</param>
    public ImageFolderDataset(string root, int channels = 3)
    {
        if (channels is not (0 or 1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected 0 (detect), 1 or 3.");
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder not found: {root}");
        var classDirs = Directory.GetDirectories(root).OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToArray();
        if (classDirs.Length == 0) throw new InvalidDataException($"{root}: no class subdirectories; expected root/<class>/<image files>.");
        Classes = classDirs.Select(d => Path.GetFileName(d)!).ToArray();
        var list = new List<(string, int)>();
        for (int c = 0; c < classDirs.Length; c++)
            foreach (var f in Directory.EnumerateFiles(classDirs[c], "*", SearchOption.AllDirectories)
                         .Where(ImageDecoder.IsImageFile).OrderBy(f => f, StringComparer.Ordinal))
                list.Add((f, c));
        if (list.Count == 0)
            throw new InvalidDataException($"{root}: no image files ({string.Join(", ", ImageDecoder.Extensions)}) in the class subdirectories.");
        items = list.ToArray();
        Root = root;
        Channels = channels != 0 ? channels : DetectChannels();
    }

    public string Root { get; }
    public int Count => items.Length;
    public IReadOnlyList<string> Classes { get; }
    /// <summary>Channels of every returned sample.</summary>
    public int Channels { get; }

    public string PathOf(int index) => items[index].Path;
    public int LabelOf(int index) => items[index].Label;

    public ImageSample Get(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"expected 0 ≤ index < {Count}.");
        var (path, label) = items[index];
        return ImageDecoder.Decode(path, label, Channels);
    }

    /// <summary>The split folder under <paramref name="root"/>: train → <c>train</c>; eval → <c>val</c>, <c>validation</c> or <c>test</c>.</summary>
    public static string SplitDirectory(string root, bool train)
    {
        string[] names = train ? ["train"] : ["val", "validation", "test"];
        foreach (var n in names)
        {
            string p = Path.Combine(root, n);
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException($"{root}: no {(train ? "train" : "evaluation")} split; expected a subdirectory named {string.Join(" or ", names)}.");
    }

    int DetectChannels()
    {
        foreach (var (path, _) in items)
        {
            try { return ImageDecoder.Decode(path).Channels; }
            catch (ImageReadException) { }
        }
        return 3;
    }
}
