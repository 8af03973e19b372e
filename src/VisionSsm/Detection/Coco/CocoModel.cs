namespace VisionSsm.Detection.Coco;

/// <summary>One entry of COCO's <c>images</c>: any size; <see cref="FileName"/> is relative to the image folder.</summary>
public sealed record CocoImage(long Id, string FileName, int Width, int Height);

/// <summary>One entry of COCO's <c>categories</c>; <see cref="Label"/> is its contiguous index (see <see cref="CocoDataset"/>).</summary>
public sealed record CocoCategory(long Id, string Name, string? Supercategory, int Label);

/// <summary>
/// One entry of COCO's <c>annotations</c>. <see cref="Bbox"/> is (x, y, w, h) as stored; <see cref="Area"/> is the
/// stored <c>area</c> (the segmentation's pixel area for COCO's own files), which the evaluator's area ranges use.
/// </summary>
public sealed record CocoAnnotation(long Id, long ImageId, long CategoryId, double[] Bbox, double Area, bool IsCrowd,
    CocoSegmentation? Segmentation)
{
    /// <summary>The segmentation as one mask of the image's size: polygons rasterised and merged, RLE as stored.</summary>
    public Rle ToRle(CocoImage image) => Segmentation switch
    {
        null => throw new CocoFormatException($"annotation {Id} has no segmentation"),
        CocoPolygons p => p.Polygons.Count == 1
            ? PolygonRasterizer.Rasterize(p.Polygons[0], image.Height, image.Width)
            : Rle.Merge(p.Polygons.Select(q => PolygonRasterizer.Rasterize(q, image.Height, image.Width)).ToList()),
        CocoRleSegmentation r => r.Rle,
        _ => throw new InvalidOperationException("unknown segmentation kind"),
    };
}

/// <summary>A COCO segmentation: polygons or run-length encoding.</summary>
public abstract record CocoSegmentation;

/// <summary>One or more polygons (x0, y0, x1, y1, …); an object may consist of several parts.</summary>
public sealed record CocoPolygons(IReadOnlyList<double[]> Polygons) : CocoSegmentation;

/// <summary>An RLE mask, read from either the compressed string or the uncompressed count list.</summary>
public sealed record CocoRleSegmentation(Rle Rle, bool WasCompressed) : CocoSegmentation;
