using VisionSsm.Detection.Coco;

namespace VisionSsm.Detection.Data;

/// <summary>
/// Finds the splits of a COCO-style folder: <c>annotations/instances_&lt;split&gt;.json</c> with the images of that split
/// in <c>&lt;split&gt;/</c> or <c>images/&lt;split&gt;/</c> (COCO 2017: <c>instances_train2017.json</c> + <c>train2017/</c>). The
/// training split is the one whose name starts with <c>train</c>; the evaluation split the one starting with
/// <c>val</c>, else <c>test</c>.
/// </summary>
public static class CocoFolder
{
    /// <summary>(annotation file, image folder) of the training (<paramref name="train"/>) or evaluation split.</summary>
    public static (string Annotations, string Images) Split(string root, bool train)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"--data: directory '{root}' does not exist.");
        string annDir = Path.Combine(root, "annotations");
        if (!Directory.Exists(annDir))
            throw new DirectoryNotFoundException($"--data: '{root}' has no annotations/ folder; expected annotations/instances_<split>.json and the images in <split>/ (COCO layout).");
        var files = Directory.GetFiles(annDir, "instances_*.json").OrderBy(f => f, StringComparer.Ordinal).ToList();
        string? Pick(string prefix) => files.FirstOrDefault(f => SplitName(f).StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
        string? file = train ? Pick("train") : Pick("val") ?? Pick("test");
        if (file is null)
            throw new FileNotFoundException($"--data: '{annDir}' has no instances_{(train ? "train" : "val|test")}*.json (found: {(files.Count == 0 ? "none" : string.Join(", ", files.Select(Path.GetFileName)))}).");
        string split = SplitName(file);
        foreach (var dir in new[] { Path.Combine(root, split), Path.Combine(root, "images", split), Path.Combine(root, "images") })
            if (Directory.Exists(dir)) return (file, dir);
        throw new DirectoryNotFoundException($"--data: no image folder for {Path.GetFileName(file)}; expected '{Path.Combine(root, split)}' or '{Path.Combine(root, "images", split)}'.");
    }

    static string SplitName(string file) => Path.GetFileNameWithoutExtension(file)["instances_".Length..];

    /// <summary>Opens both splits of <paramref name="root"/> (training: images with objects only; evaluation: all).</summary>
    public static (CocoImageDataset Train, CocoImageDataset Test) Open(string root, BoxPolicy policy = BoxPolicy.Reject, bool withMasks = true)
    {
        var (ta, ti) = Split(root, train: true);
        var (va, vi) = Split(root, train: false);
        var train = CocoImageDataset.Open(ta, ti, training: true, policy, withMasks);
        var test = CocoImageDataset.Open(va, vi, training: false, policy, withMasks, train.Channels);
        if (!train.Classes.SequenceEqual(test.Classes))
            throw new CocoFormatException($"--data: {Path.GetFileName(ta)} and {Path.GetFileName(va)} name different categories; expected the same list.");
        return (train, test);
    }
}
