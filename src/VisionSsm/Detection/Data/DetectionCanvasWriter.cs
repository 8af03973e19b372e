using System.Text.Json;
using System.Text.Json.Nodes;
using VisionSsm.Data;
using VisionSsm.Detection.Coco;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;

namespace VisionSsm.Detection.Data;

/// <summary>
/// Saves the detection canvases as a COCO folder (<see cref="CocoFolder"/> reads it back):
/// <c>train/NNNNN.png</c>, <c>test/NNNNN.png</c> (gray PNG), <c>annotations/instances_train.json</c>,
/// <c>annotations/instances_test.json</c> (boxes, areas = visible pixels, masks as compressed RLE, iscrowd 0) and
/// <c>manifest.json</c> (the settings). Image ids are 1 + the canvas index; annotation ids count from 1 per split. The
/// folder appears whole or not at all, and is left alone when it already holds these canvases
/// (<see cref="AtomicFolder"/>).
/// </summary>
public static class DetectionCanvasWriter
{
    public const string ManifestName = "manifest.json";

    public static bool Write(string directory, DetectionCanvasOptions? options = null, string fashionMnistDirectory = FashionMnist.DefaultDirectory,
        Action<string>? log = null)
    {
        options ??= new DetectionCanvasOptions();
        options.Validate();
        var o = options.Canvas;
        var node = CanvasWriter.Settings(o, "VisionSsm DetectionCanvas");
        node["minVisibleFraction"] = options.MinVisibleFraction;
        string settings = node.ToJsonString();
        bool wrote = AtomicFolder.WriteOnce(directory, ManifestName, settings, temp =>
        {
            Directory.CreateDirectory(Path.Combine(temp, "annotations"));
            var root = JsonNode.Parse(settings)!.AsObject();
            foreach (bool train in new[] { true, false })
            {
                string split = CanvasWriter.SplitName(train);
                var coco = WriteSplit(temp, FashionMnistCanvas.Open(train, o, fashionMnistDirectory), split, options.MinVisibleFraction, log);
                CocoWriter.WriteInstances(Path.Combine(temp, "annotations", $"instances_{split}.json"), coco);
                root[split + "Annotations"] = coco.Annotations.Count;
            }
            AtomicFile.WriteAllText(Path.Combine(temp, ManifestName), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }, log);
        if (wrote) log?.Invoke($"wrote {o.TrainCount} train and {o.TestCount} test detection canvases to {Path.GetFullPath(directory)}");
        return wrote;
    }

    static CocoDataset WriteSplit(string root, CanvasDataset canvases, string split, double minVisible, Action<string>? log)
    {
        string folder = Path.Combine(root, split);
        Directory.CreateDirectory(folder);
        int size = canvases.Options.Size, channels = canvases.Options.Channels;
        var perImage = new IReadOnlyList<CanvasInstance>[canvases.Count];
        int done = 0, step = Math.Max(1, canvases.Count / 10);
        Parallel.For(0, canvases.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            var (gray, instances) = DetectionCanvas.Compose(canvases, i, minVisible);
            ImageDecoder.Save(new ImageSample(FashionMnistCanvas.ToChannels(gray, channels), channels, size, size, 0), Path.Combine(folder, CanvasWriter.FileName(i)));
            perImage[i] = instances;
            int d = Interlocked.Increment(ref done);
            if (d % step == 0) log?.Invoke($"{split}: {d}/{canvases.Count} canvases");
        });
        var images = Enumerable.Range(0, canvases.Count).Select(i => new CocoImage(i + 1, CanvasWriter.FileName(i), size, size)).ToList();
        var annotations = new List<CocoAnnotation>();
        for (int i = 0; i < canvases.Count; i++)
            foreach (var inst in perImage[i])
                annotations.Add(new CocoAnnotation(annotations.Count + 1, i + 1, inst.ClassIndex + 1,
                    [inst.X1, inst.Y1, inst.X2 - inst.X1, inst.Y2 - inst.Y1], inst.Visible, false,
                    new CocoRleSegmentation(Rle.Encode(inst.Mask, size, size), true)));
        return new CocoDataset(images, annotations, DetectionCanvas.Categories);
    }
}
