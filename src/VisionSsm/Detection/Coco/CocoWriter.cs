using System.Text;
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
    static readonly JsonWriterOptions Compact = new() { Indented = false };

    public static void WriteInstances(string path, CocoDataset data) => AtomicFile.WriteAllText(path, InstancesJson(data));

    public static string InstancesJson(CocoDataset data)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, Compact))
        {
            w.WriteStartObject();
            w.WriteStartArray("images");
            foreach (var im in data.Images)
            {
                w.WriteStartObject();
                w.WriteNumber("id", im.Id);
                w.WriteString("file_name", im.FileName);
                w.WriteNumber("width", im.Width);
                w.WriteNumber("height", im.Height);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            foreach (var a in data.Annotations)
            {
                w.WriteStartObject();
                w.WriteNumber("id", a.Id);
                w.WriteNumber("image_id", a.ImageId);
                w.WriteNumber("category_id", a.CategoryId);
                WriteBox(w, a.Bbox);
                w.WriteNumber("area", a.Area);
                w.WriteNumber("iscrowd", a.IsCrowd ? 1 : 0);
                switch (a.Segmentation)
                {
                    case CocoRleSegmentation r: WriteRle(w, r.Rle); break;
                    case CocoPolygons p:
                        w.WriteStartArray("segmentation");
                        foreach (var poly in p.Polygons)
                        {
                            w.WriteStartArray();
                            foreach (var v in poly) w.WriteNumberValue(v);
                            w.WriteEndArray();
                        }
                        w.WriteEndArray();
                        break;
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("categories");
            foreach (var c in data.Categories)
            {
                w.WriteStartObject();
                w.WriteNumber("id", c.Id);
                w.WriteString("name", c.Name);
                if (c.Supercategory is { } s) w.WriteString("supercategory", s);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>A results list; <see cref="CocoDetection.Bbox"/> and <see cref="CocoDetection.Mask"/> are written when present.</summary>
    public static void WriteResults(string path, IEnumerable<CocoDetection> detections)
    {
        AtomicFile.Write(path, fs =>
        {
            using var w = new Utf8JsonWriter(fs, Compact);
            w.WriteStartArray();
            foreach (var d in detections)
            {
                w.WriteStartObject();
                w.WriteNumber("image_id", d.ImageId);
                w.WriteNumber("category_id", d.CategoryId);
                if (d.Bbox is { } b) WriteBox(w, b);
                w.WriteNumber("score", Math.Round(d.Score, 6));
                if (d.Mask is { } m) WriteRle(w, m);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    static void WriteBox(Utf8JsonWriter w, double[] box)
    {
        w.WriteStartArray("bbox");
        foreach (var v in box) w.WriteNumberValue(Math.Round(v, 3));
        w.WriteEndArray();
    }

    static void WriteRle(Utf8JsonWriter w, Rle rle)
    {
        w.WriteStartObject("segmentation");
        w.WriteStartArray("size");
        w.WriteNumberValue(rle.Height);
        w.WriteNumberValue(rle.Width);
        w.WriteEndArray();
        w.WriteString("counts", rle.ToCompressedString());
        w.WriteEndObject();
    }
}
