using System.Text.Json.Nodes;
using VisionSsm.Data;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// The plain layout: a folder of images and a folder of masks, paired by file stem (<c>images/a.jpg</c> ↔
/// <c>masks/a.png</c>), optionally split as <c>images/&lt;split&gt;</c> + <c>masks/&lt;split&gt;</c>. Masks store the
/// labels themselves (8-bit gray or palette PNGs, 255 = ignore). Class names come from the caller, or from
/// <c>classes.txt</c> (one name per line) or <c>manifest.json</c> ("classes") in the root.
/// </summary>
public static class SegmentationFolders
{
    public const string ClassesFile = "classes.txt";

    /// <summary>Pairs every image in <paramref name="imagesDir"/> with the mask of the same stem in <paramref name="masksDir"/>.</summary>
    public static SegmentationFileDataset Open(string imagesDir, string masksDir, IReadOnlyList<string> classes, int channels = 3,
        bool reduceZeroLabel = false) =>
        new(Pair(imagesDir, masksDir), classes, reduceZeroLabel, channels, imagesDir);

    /// <summary>
    /// The train or evaluation split under <paramref name="root"/>: <c>images/train</c> + <c>masks/train</c>, or for
    /// evaluation <c>val</c>, <c>validation</c> or <c>test</c>; a root with images and masks directly (no split
    /// subfolders) serves both.
    /// </summary>
    public static SegmentationFileDataset Open(string root, bool train, IReadOnlyList<string>? classes = null, int channels = 3)
    {
        var (images, masks) = SplitDirectories(root, train);
        return Open(images, masks, classes ?? ReadClasses(root), channels);
    }

    /// <summary>True when <paramref name="root"/> has the <c>images/</c> and <c>masks/</c> folders of this layout.</summary>
    public static bool Matches(string root) =>
        Directory.Exists(Path.Combine(root, "images")) && Directory.Exists(Path.Combine(root, "masks"));

    public static (string Images, string Masks) SplitDirectories(string root, bool train)
    {
        string images = Path.Combine(root, "images"), masks = Path.Combine(root, "masks");
        if (!Directory.Exists(images) || !Directory.Exists(masks))
            throw new DirectoryNotFoundException($"{root}: expected an images/ and a masks/ folder (plain segmentation layout).");
        string[] names = train ? ["train", "training"] : ["val", "validation", "test"];
        foreach (var n in names)
            if (Directory.Exists(Path.Combine(images, n)))
            {
                string m = Path.Combine(masks, n);
                if (!Directory.Exists(m)) throw new DirectoryNotFoundException($"{root}: images/{n} has no matching masks/{n} folder.");
                return (Path.Combine(images, n), m);
            }
        bool hasSubfolders = Directory.EnumerateDirectories(images).Any();
        if (hasSubfolders)
            throw new DirectoryNotFoundException(
                $"{root}: no {(train ? "train" : "evaluation")} split; expected images/{string.Join(" or images/", names)} (with the same under masks/).");
        return (images, masks);
    }

    /// <summary>Class names from <c>classes.txt</c> or <c>manifest.json</c> in <paramref name="root"/>; a clear error when neither exists.</summary>
    public static IReadOnlyList<string> ReadClasses(string root)
    {
        string txt = Path.Combine(root, ClassesFile);
        if (File.Exists(txt))
        {
            var names = File.ReadAllLines(txt).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
            if (names.Length == 0) throw new InvalidDataException($"{txt} lists no class names.");
            return names;
        }
        string manifest = Path.Combine(root, CanvasWriter.ManifestName);
        if (File.Exists(manifest) && JsonNode.Parse(File.ReadAllText(manifest))?["classes"] is JsonArray arr && arr.Count > 0)
            return arr.Select(n => n!.GetValue<string>()).ToArray();
        throw new FileNotFoundException(
            $"{root}: the class names are not declared; write them one per line to {txt} (label 0 first) or pass them explicitly.");
    }

    /// <summary>Pairs images and masks by file stem; lists the unmatched files in the error.</summary>
    public static List<(string Image, string Mask)> Pair(string imagesDir, string masksDir)
    {
        if (!Directory.Exists(imagesDir)) throw new DirectoryNotFoundException($"images folder not found: {imagesDir}");
        if (!Directory.Exists(masksDir)) throw new DirectoryNotFoundException($"masks folder not found: {masksDir}");
        var images = Stems(imagesDir, "image");
        var masks = Stems(masksDir, "mask");
        if (images.Count == 0) throw new InvalidDataException($"{imagesDir}: no image files ({string.Join(", ", ImageDecoder.Extensions)}).");
        if (masks.Count == 0) throw new InvalidDataException($"{masksDir}: no mask files ({string.Join(", ", ImageDecoder.Extensions)}).");
        var noMask = images.Keys.Where(k => !masks.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var noImage = masks.Keys.Where(k => !images.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (noMask.Count > 0 || noImage.Count > 0)
        {
            static string List(List<string> l) => string.Join(", ", l.Take(5)) + (l.Count > 5 ? $", … ({l.Count} in all)" : "");
            var parts = new List<string>();
            if (noMask.Count > 0) parts.Add($"images without a mask in {masksDir}: {List(noMask)}");
            if (noImage.Count > 0) parts.Add($"masks without an image in {imagesDir}: {List(noImage)}");
            throw new InvalidDataException($"unpaired files ({string.Join("; ", parts)}); every image needs a mask with the same file stem.");
        }
        return images.Keys.Order(StringComparer.Ordinal).Select(k => (images[k], masks[k])).ToList();
    }

    static Dictionary<string, string> Stems(string dir, string kind)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(dir).Where(ImageDecoder.IsImageFile))
        {
            string stem = Path.GetFileNameWithoutExtension(f);
            if (!d.TryAdd(stem, f))
                throw new InvalidDataException($"{dir}: two {kind} files share the stem '{stem}' ({Path.GetFileName(d[stem])}, {Path.GetFileName(f)}).");
        }
        return d;
    }
}
