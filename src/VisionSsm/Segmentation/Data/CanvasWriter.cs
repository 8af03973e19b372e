using System.Text.Json;
using System.Text.Json.Nodes;
using VisionSsm.Data;
using VisionSsm.Runtime;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// Saves the composed canvases in the plain layout every tool reads: <c>images/{train,test}/NNNNN.png</c> (gray or
/// RGB PNG), <c>masks/{train,test}/NNNNN.png</c> (8-bit palette PNG whose indices are the labels) and
/// <c>classes.txt</c> (label names, background first) and <c>manifest.json</c> (settings, class names and every canvas's items). The folder appears whole or not at all: it is
/// written under a temporary sibling name and renamed into place.
/// </summary>
public static class CanvasWriter
{
    public const string ManifestName = "manifest.json";

    /// <summary>
    /// Writes the train and test canvases of <paramref name="options"/> to <paramref name="directory"/>. When the folder
    /// already holds a manifest with the same settings it is left as it is (returns false); any other non-empty folder
    /// is an error. <paramref name="log"/> gets progress lines.
    /// </summary>
    public static bool Write(string directory, CanvasOptions? options = null, string fashionMnistDirectory = FashionMnist.DefaultDirectory,
        Action<string>? log = null)
    {
        options ??= new CanvasOptions();
        options.Validate();
        string settings = SettingsJson(options);
        bool wrote = AtomicFolder.WriteOnce(directory, ManifestName, settings, temp =>
        {
            var splits = new JsonObject();
            foreach (bool train in new[] { true, false })
            {
                var ds = FashionMnistCanvas.Open(train, options, fashionMnistDirectory);
                splits[SplitName(train)] = WriteSplit(temp, ds, SplitName(train), log);
            }
            var root = JsonNode.Parse(settings)!.AsObject();
            root["classes"] = new JsonArray(FashionMnistCanvas.ClassNames.Select(n => (JsonNode)n!).ToArray());
            root["ignoreIndex"] = SegmentationLabels.IgnoreIndex;
            root["splits"] = splits;
            AtomicFile.WriteAllLines(Path.Combine(temp, SegmentationFolders.ClassesFile), FashionMnistCanvas.ClassNames);
            AtomicFile.WriteAllText(Path.Combine(temp, ManifestName), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }, log);
        if (wrote) log?.Invoke($"wrote {options.TrainCount} train and {options.TestCount} test canvases to {Path.GetFullPath(directory)}");
        return wrote;
    }

    public static string SplitName(bool train) => train ? "train" : "test";

    /// <summary>File name of canvas <paramref name="index"/> (same stem for image and mask).</summary>
    public static string FileName(int index) => $"{index:D5}.png";

    static JsonArray WriteSplit(string root, CanvasDataset ds, string split, Action<string>? log)
    {
        string images = Path.Combine(root, "images", split), masks = Path.Combine(root, "masks", split);
        Directory.CreateDirectory(images);
        Directory.CreateDirectory(masks);
        var items = new JsonArray[ds.Count];
        int done = 0, step = Math.Max(1, ds.Count / 10);
        Parallel.For(0, ds.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            var s = ds.Get(i);
            ImageDecoder.Save(new ImageSample(s.Pixels, s.Channels, s.Height, s.Width, 0), Path.Combine(images, FileName(i)));
            LabelPng.Write(Path.Combine(masks, FileName(i)), s.Mask, s.Height, s.Width);
            items[i] = new JsonArray(ds.Items(i).Select(it => (JsonNode)new JsonObject
            {
                ["source"] = it.SourceIndex, ["class"] = it.ClassIndex, ["scale"] = Math.Round(it.Scale, 6),
                ["side"] = it.Side, ["x"] = it.X, ["y"] = it.Y,
            }).ToArray());
            int d = Interlocked.Increment(ref done);
            if (d % step == 0) log?.Invoke($"{split}: {d}/{ds.Count} canvases");
        });
        return new JsonArray(items.Select((a, i) => (JsonNode)new JsonObject { ["file"] = FileName(i), ["items"] = a }).ToArray());
    }

    static string SettingsJson(CanvasOptions o) => Settings(o, "VisionSsm FashionMnistCanvas").ToJsonString();

    /// <summary>
    /// The composer settings as a manifest records them (and as <see cref="AtomicFolder.WriteOnce"/> compares them).
    /// The overlap cap appears only when set (&lt; 1), so folders written before the cap existed still match.
    /// </summary>
    internal static JsonObject Settings(CanvasOptions o, string generator)
    {
        var settings = new JsonObject
        {
            ["generator"] = generator,
            ["size"] = o.Size, ["minItems"] = o.MinItems, ["maxItems"] = o.MaxItems,
            ["minScale"] = o.MinScale, ["maxScale"] = o.MaxScale, ["inkThreshold"] = o.InkThreshold,
            ["channels"] = o.Channels, ["seed"] = o.Seed, ["trainCount"] = o.TrainCount, ["testCount"] = o.TestCount,
        };
        if (o.MaxOverlap < 1) settings["maxOverlap"] = o.MaxOverlap;
        return settings;
    }
}
