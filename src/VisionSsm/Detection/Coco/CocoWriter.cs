using System.Text.Json;
using VisionSsm.Runtime;

namespace VisionSsm.Detection.Coco;

/// <summary>
/// Writes COCO JSON (atomically): instances files (<c>images</c>, <c>annotations</c> with boxes (x, y, w, h), areas,
/// <c>iscrowd</c> and compressed-RLE or polygon segmentations, <c>categories</c>) and results lists (<c>image_id</c>,
/// <c>category_id</c>, <c>bbox</c>, <c>score</c>, optional RLE <c>segmentation</c>), the two forms
/// <see cref="CocoDataset"/> and <see cref="CocoResults"/> read.
/// </summary>
public static class CocoWriter
{
    static readonly JsonSerializerOptions Options = new() { WriteIndented = false, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    public static void WriteInstances(string path, CocoDataset data) => AtomicFile.WriteAllText(path, InstancesJson(data));

    public static string InstancesJson(CocoDataset data) => JsonSerializer.Serialize(new
    {
        images = data.Images.Select(im => new { id = im.Id, file_name = im.FileName, width = im.Width, height = im.Height }),
        annotations = data.Annotations.Select(a => new
        {
            id = a.Id, image_id = a.ImageId, category_id = a.CategoryId, bbox = Box(a.Bbox), area = a.Area, iscrowd = a.IsCrowd ? 1 : 0,
            segmentation = a.Segmentation switch
            {
                CocoRleSegmentation r => Rle(r.Rle),
                CocoPolygons p => p.Polygons,
                _ => null,
            },
        }),
        categories = data.Categories.Select(c => new { id = c.Id, name = c.Name, supercategory = c.Supercategory }),
    }, Options);

    /// <summary>A results list; <see cref="CocoDetection.Bbox"/> and <see cref="CocoDetection.Mask"/> are written when present.</summary>
    public static void WriteResults(string path, IEnumerable<CocoDetection> detections) =>
        AtomicFile.Write(path, fs => JsonSerializer.Serialize(fs, detections.Select(d => new
        {
            image_id = d.ImageId, category_id = d.CategoryId, bbox = d.Bbox is { } b ? Box(b) : null, score = Math.Round(d.Score, 6),
            segmentation = d.Mask is { } m ? Rle(m) : null,
        }), Options));

    static double[] Box(double[] box) => box.Select(v => Math.Round(v, 3)).ToArray();

    static object Rle(Rle rle) => new { size = new[] { rle.Height, rle.Width }, counts = rle.ToCompressedString() };
}
