using System.Text.Json;

namespace VisionSsm.Detection.Coco;

/// <summary>Field readers shared by the COCO loaders: each failure names the source, the entry and the field.</summary>
static class CocoJson
{
    public static JsonDocument Parse(string json, string source)
    {
        try { return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false }); }
        catch (JsonException e)
        {
            throw new CocoFormatException($"{source}: malformed JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message}", e);
        }
    }

    public static string ReadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"COCO JSON file not found: {path}", path);
        return File.ReadAllText(path);
    }

    public static JsonElement Array(JsonElement obj, string name, string where, bool required = true)
    {
        if (obj.TryGetProperty(name, out var v))
        {
            if (v.ValueKind != JsonValueKind.Array) throw new CocoFormatException($"{where}: \"{name}\" must be an array, got {v.ValueKind}");
            return v;
        }
        if (required) throw new CocoFormatException($"{where}: missing the \"{name}\" array");
        return default;
    }

    public static long Id(JsonElement e, string name, string where)
    {
        if (!e.TryGetProperty(name, out var v)) throw new CocoFormatException($"{where}: missing \"{name}\"");
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long id)) return id;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        throw new CocoFormatException($"{where}: \"{name}\" must be an integer, got {v.GetRawText()}");
    }

    public static double Number(JsonElement e, string name, string where)
    {
        if (!e.TryGetProperty(name, out var v)) throw new CocoFormatException($"{where}: missing \"{name}\"");
        return Number(v, $"{where}: \"{name}\"");
    }

    public static double Number(JsonElement v, string what)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new CocoFormatException($"{what} must be a finite number, got {v.GetRawText()}");
        return d;
    }

    public static double[] Box(JsonElement e, string where)
    {
        if (!e.TryGetProperty("bbox", out var v)) throw new CocoFormatException($"{where}: missing \"bbox\"");
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 4)
            throw new CocoFormatException($"{where}: \"bbox\" must be [x, y, width, height], got {Clip(v.GetRawText())}");
        var b = v.EnumerateArray().Select(x => Number(x, $"{where}: bbox value")).ToArray();
        if (b[2] < 0 || b[3] < 0) throw new CocoFormatException($"{where}: bbox width and height must be >= 0, got [{string.Join(", ", b)}]");
        return b;
    }

    /// <summary>Polygons (a list of coordinate lists) or RLE (an object with "size" and "counts").</summary>
    public static CocoSegmentation? Segmentation(JsonElement e, string where, int imageHeight, int imageWidth)
    {
        if (!e.TryGetProperty("segmentation", out var s) || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind == JsonValueKind.Array)
        {
            if (s.GetArrayLength() == 0) throw new CocoFormatException($"{where}: \"segmentation\" is an empty polygon list");
            var polys = new List<double[]>();
            int i = 0;
            foreach (var p in s.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.Array)
                    throw new CocoFormatException($"{where}: polygon {i} must be a list of numbers, got {Clip(p.GetRawText())}");
                var xy = p.EnumerateArray().Select(x => Number(x, $"{where}: polygon {i} coordinate")).ToArray();
                if (xy.Length < 6 || xy.Length % 2 != 0)
                    throw new CocoFormatException($"{where}: polygon {i} needs an even number (>= 6) of coordinates, got {xy.Length}");
                polys.Add(xy);
                i++;
            }
            return new CocoPolygons(polys);
        }
        if (s.ValueKind != JsonValueKind.Object)
            throw new CocoFormatException($"{where}: \"segmentation\" must be polygons or an RLE object, got {s.ValueKind}");
        if (!s.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2)
            throw new CocoFormatException($"{where}: RLE segmentation needs \"size\": [height, width]");
        int h = (int)Number(size[0], $"{where}: RLE height"), w = (int)Number(size[1], $"{where}: RLE width");
        if (h != imageHeight || w != imageWidth)
            throw new CocoFormatException($"{where}: RLE size {h}x{w} differs from its image's {imageHeight}x{imageWidth}");
        if (!s.TryGetProperty("counts", out var counts))
            throw new CocoFormatException($"{where}: RLE segmentation needs \"counts\"");
        try
        {
            if (counts.ValueKind == JsonValueKind.String)
                return new CocoRleSegmentation(Rle.FromCompressedString(counts.GetString()!, h, w), true);
            if (counts.ValueKind == JsonValueKind.Array)
            {
                var c = counts.EnumerateArray().Select(x =>
                {
                    double d = Number(x, $"{where}: RLE count");
                    if (d < 0 || d != Math.Floor(d) || d > uint.MaxValue) throw new CocoFormatException($"{where}: RLE counts must be non-negative integers, got {d}");
                    return (uint)d;
                }).ToArray();
                return new CocoRleSegmentation(new Rle(h, w, c), false);
            }
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException && ex is not CocoFormatException)
        {
            throw new CocoFormatException($"{where}: bad RLE: {ex.Message}", ex);
        }
        throw new CocoFormatException($"{where}: RLE \"counts\" must be a string or a list of integers, got {counts.ValueKind}");
    }

    static string Clip(string s) => s.Length > 80 ? s[..77] + "..." : s;
}
