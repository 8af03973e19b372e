using System.Text.Json;

namespace VisionSsm.Detection.Coco;

/// <summary>
/// A COCO instances file (<c>images</c>, <c>annotations</c>, <c>categories</c>), checked on load (docs/detection.md §5):
/// malformed JSON, missing or mistyped fields, duplicate ids, annotations naming an unknown image or category id,
/// negative box sides, bad polygons and RLE whose size or counts do not fit the image are errors naming the entry.
/// Values are kept as stored (boxes are not clipped: the evaluator must see what pycocotools sees); training targets
/// apply the box policy (<see cref="CocoTargets"/>). Images may have any size and may have no annotations.
/// <para>Category ids may be non-contiguous (COCO's run 1–90 with gaps): labels 0..K−1 follow ascending id, the
/// order pycocotools' evaluator and mmdetection's 80-class list use.</para>
/// </summary>
public sealed class CocoDataset
{
    public IReadOnlyList<CocoImage> Images { get; }
    public IReadOnlyList<CocoAnnotation> Annotations { get; }
    /// <summary>Categories by ascending id; <see cref="CocoCategory.Label"/> is the index in this list.</summary>
    public IReadOnlyList<CocoCategory> Categories { get; }

    readonly Dictionary<long, CocoImage> imageById;
    readonly Dictionary<long, CocoCategory> categoryById;
    readonly Dictionary<long, List<CocoAnnotation>> annotationsByImage;

    public CocoDataset(IReadOnlyList<CocoImage> images, IReadOnlyList<CocoAnnotation> annotations, IReadOnlyList<CocoCategory> categories)
    {
        Images = images; Annotations = annotations; Categories = categories;
        imageById = images.ToDictionary(i => i.Id);
        categoryById = categories.ToDictionary(c => c.Id);
        annotationsByImage = images.ToDictionary(i => i.Id, _ => new List<CocoAnnotation>());
        foreach (var a in annotations) annotationsByImage[a.ImageId].Add(a);
    }

    public CocoImage Image(long id) => imageById.TryGetValue(id, out var i) ? i
        : throw new KeyNotFoundException($"no image with id {id} in the COCO file");

    public bool HasImage(long id) => imageById.ContainsKey(id);

    public CocoCategory Category(long id) => categoryById.TryGetValue(id, out var c) ? c
        : throw new KeyNotFoundException($"unknown category id {id}; known ids: {KnownIds()}");

    public bool HasCategory(long id) => categoryById.ContainsKey(id);

    /// <summary>Contiguous label (0..K−1) of a category id.</summary>
    public int LabelOf(long categoryId) => Category(categoryId).Label;

    /// <summary>The annotations of one image, in file order.</summary>
    public IReadOnlyList<CocoAnnotation> AnnotationsOf(long imageId) => annotationsByImage.TryGetValue(imageId, out var l) ? l
        : throw new KeyNotFoundException($"no image with id {imageId} in the COCO file");

    string KnownIds() => Categories.Count <= 20 ? string.Join(", ", Categories.Select(c => c.Id))
        : string.Join(", ", Categories.Take(20).Select(c => c.Id)) + ", ...";

    /// <summary>Reads and checks a COCO instances JSON file.</summary>
    public static CocoDataset Load(string path) => Parse(CocoJson.ReadFile(path), path);

    /// <summary>Parses and checks COCO instances JSON; <paramref name="source"/> names it in errors.</summary>
    public static CocoDataset Parse(string json, string source = "COCO JSON")
    {
        using var doc = CocoJson.Parse(json, source);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{source}: the top level must be an object, got {root.ValueKind}");

        var images = new List<CocoImage>();
        var seenImages = new HashSet<long>();
        int n = 0;
        foreach (var e in CocoJson.Array(root, "images", source).EnumerateArray())
        {
            string where = $"{source}: images[{n++}]";
            if (e.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{where} must be an object");
            long id = CocoJson.Id(e, "id", where);
            where = $"{source}: image {id}";
            if (!seenImages.Add(id)) throw new CocoFormatException($"{where}: duplicate image id");
            double w = CocoJson.Number(e, "width", where), h = CocoJson.Number(e, "height", where);
            if (w < 1 || h < 1 || w != Math.Floor(w) || h != Math.Floor(h) || w > int.MaxValue || h > int.MaxValue)
                throw new CocoFormatException($"{where}: width and height must be positive integers, got {w}x{h}");
            string file = e.TryGetProperty("file_name", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : "";
            images.Add(new CocoImage(id, file, (int)w, (int)h));
        }

        var rawCats = new List<(long Id, string Name, string? Super)>();
        var seenCats = new HashSet<long>();
        n = 0;
        foreach (var e in CocoJson.Array(root, "categories", source).EnumerateArray())
        {
            string where = $"{source}: categories[{n++}]";
            if (e.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{where} must be an object");
            long id = CocoJson.Id(e, "id", where);
            if (!seenCats.Add(id)) throw new CocoFormatException($"{source}: duplicate category id {id}");
            string name = e.TryGetProperty("name", out var nm) && nm.ValueKind == JsonValueKind.String ? nm.GetString()! : id.ToString();
            string? super = e.TryGetProperty("supercategory", out var sc) && sc.ValueKind == JsonValueKind.String ? sc.GetString() : null;
            rawCats.Add((id, name, super));
        }
        var categories = rawCats.OrderBy(c => c.Id).Select((c, i) => new CocoCategory(c.Id, c.Name, c.Super, i)).ToList();

        var byId = images.ToDictionary(i => i.Id);
        var annotations = new List<CocoAnnotation>();
        var seenAnns = new HashSet<long>();
        n = 0;
        foreach (var e in CocoJson.Array(root, "annotations", source).EnumerateArray())
        {
            string where = $"{source}: annotations[{n++}]";
            if (e.ValueKind != JsonValueKind.Object) throw new CocoFormatException($"{where} must be an object");
            long id = CocoJson.Id(e, "id", where);
            where = $"{source}: annotation {id}";
            if (!seenAnns.Add(id)) throw new CocoFormatException($"{where}: duplicate annotation id");
            long imageId = CocoJson.Id(e, "image_id", where);
            if (!byId.TryGetValue(imageId, out var image)) throw new CocoFormatException($"{where}: image_id {imageId} is not in \"images\"");
            long catId = CocoJson.Id(e, "category_id", where);
            if (!seenCats.Contains(catId))
                throw new CocoFormatException($"{where}: unknown category_id {catId}; \"categories\" has ids {string.Join(", ", categories.Take(20).Select(c => c.Id))}{(categories.Count > 20 ? ", ..." : "")}");
            var box = CocoJson.Box(e, where);
            bool crowd = false;
            if (e.TryGetProperty("iscrowd", out var ic))
            {
                double v = CocoJson.Number(ic, $"{where}: \"iscrowd\"");
                if (v != 0 && v != 1) throw new CocoFormatException($"{where}: \"iscrowd\" must be 0 or 1, got {v}");
                crowd = v == 1;
            }
            var seg = CocoJson.Segmentation(e, where, image.Height, image.Width);
            double area;
            if (e.TryGetProperty("area", out var ar)) area = CocoJson.Number(ar, $"{where}: \"area\"");
            else area = double.NaN;
            var ann = new CocoAnnotation(id, imageId, catId, box, area, crowd, seg);
            if (double.IsNaN(area))
            {
                // COCO files always store "area"; without it use the mask's pixel area, else the box's.
                area = seg is null ? box[2] * box[3] : ann.ToRle(image).Area();
                ann = ann with { Area = area };
            }
            if (area < 0) throw new CocoFormatException($"{where}: \"area\" must be >= 0, got {area}");
            annotations.Add(ann);
        }
        return new CocoDataset(images, annotations, categories);
    }
}
