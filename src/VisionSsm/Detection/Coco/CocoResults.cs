using System.Text.Json;

namespace VisionSsm.Detection.Coco;

/// <summary>
/// One detection in COCO's results format: image, category, score, box (x, y, w, h) and/or mask.
/// <see cref="Area"/> is what pycocotools' <c>loadRes</c> assigns: w·h when the results carry boxes, else the mask's
/// pixel area.
/// </summary>
public sealed record CocoDetection(long ImageId, long CategoryId, double Score, double[]? Bbox, Rle? Mask, double Area);

/// <summary>Reads a COCO results file (a JSON list of detections) against its ground truth.</summary>
public static class CocoResults
{
    public static IReadOnlyList<CocoDetection> Load(string path, CocoDataset groundTruth) =>
        Parse(CocoJson.ReadFile(path), groundTruth, path);

    /// <summary>
    /// Parses results; every image id must be in the ground truth (pycocotools asserts the same) and every category id
    /// known. As pycocotools does, the first entry decides the kind: if it has a box, all entries need one and areas
    /// are box areas; otherwise all need a segmentation and areas are mask areas.
    /// </summary>
    public static IReadOnlyList<CocoDetection> Parse(string json, CocoDataset groundTruth, string source = "COCO results")
    {
        using var doc = CocoJson.Parse(json, source);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Array) throw new CocoFormatException($"{source}: results must be a JSON list of detections, got {root.ValueKind}");
        var list = new List<CocoDetection>();
        bool? boxKind = null;
        int n = 0;
        foreach (var e in root.EnumerateArray())
        {
            string where = $"{source}: result [{n++}]";
            if (e.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{where} must be an object");
            long imageId = CocoJson.Id(e, "image_id", where);
            if (!groundTruth.HasImage(imageId)) throw new CocoFormatException($"{where}: image_id {imageId} is not in the ground truth");
            long catId = CocoJson.Id(e, "category_id", where);
            if (!groundTruth.HasCategory(catId)) throw new CocoFormatException($"{where}: unknown category_id {catId}");
            double score = CocoJson.Number(e, "score", where);
            var image = groundTruth.Image(imageId);
            bool hasBox = e.TryGetProperty("bbox", out var bb) && bb.ValueKind == JsonValueKind.Array && bb.GetArrayLength() > 0;
            boxKind ??= hasBox;
            double[]? box = null;
            if (boxKind.Value)
            {
                if (!hasBox) throw new CocoFormatException($"{where}: missing \"bbox\" (the first result has one, so all must)");
                box = CocoJson.Box(e, where);
            }
            Rle? mask = null;
            var seg = CocoJson.Segmentation(e, where, image.Height, image.Width);
            if (seg is not null) mask = new CocoAnnotation(0, imageId, catId, box ?? [0, 0, 0, 0], 0, false, seg).ToRle(image);
            else if (!boxKind.Value) throw new CocoFormatException($"{where}: needs \"bbox\" or \"segmentation\"");
            double area = boxKind.Value ? box![2] * box[3] : mask!.Area();
            list.Add(new CocoDetection(imageId, catId, score, box, mask, area));
        }
        return list;
    }
}
