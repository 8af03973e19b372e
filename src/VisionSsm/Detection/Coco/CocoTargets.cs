namespace VisionSsm.Detection.Coco;

/// <summary>What to do with a ground-truth box that extends beyond its image.</summary>
public enum BoxPolicy
{
    /// <summary>Clip it to the image (the box a resize with <c>clip_object_border</c> leaves in mmdetection).</summary>
    Clip,
    /// <summary>Stop with an error naming the annotation.</summary>
    Reject,
}

/// <summary>
/// Training targets of one image: boxes (x1, y1, x2, y2) with contiguous labels, crowd boxes to ignore, optional
/// instance masks (row-major H×W bytes), and how many annotations were skipped as degenerate.
/// </summary>
public sealed record CocoImageTargets(CocoImage Image, IReadOnlyList<double[]> Boxes, IReadOnlyList<int> Labels,
    IReadOnlyList<double[]> IgnoredBoxes, IReadOnlyList<byte[]>? Masks, int Skipped);

/// <summary>
/// Turns annotations into training targets with mmdetection's filter (<c>CocoDataset.parse_data_info</c>): an
/// annotation is skipped when its box does not overlap the image, when <c>area ≤ 0</c>, or when a side is below 1
/// pixel; crowd annotations become ignored boxes. A box partly outside the image is clipped or rejected
/// (<see cref="BoxPolicy"/>).
/// </summary>
public static class CocoTargets
{
    public static CocoImageTargets For(CocoDataset dataset, long imageId, BoxPolicy policy = BoxPolicy.Clip, bool withMasks = false)
    {
        var image = dataset.Image(imageId);
        var boxes = new List<double[]>(); var labels = new List<int>(); var ignored = new List<double[]>();
        var masks = withMasks ? new List<byte[]>() : null;
        int skipped = 0;
        foreach (var a in dataset.AnnotationsOf(imageId))
        {
            double x = a.Bbox[0], y = a.Bbox[1], w = a.Bbox[2], h = a.Bbox[3];
            double iw = Math.Max(0, Math.Min(x + w, image.Width) - Math.Max(x, 0));
            double ih = Math.Max(0, Math.Min(y + h, image.Height) - Math.Max(y, 0));
            if (iw * ih == 0 || a.Area <= 0 || w < 1 || h < 1) { skipped++; continue; }
            bool outside = x < 0 || y < 0 || x + w > image.Width || y + h > image.Height;
            if (outside && policy == BoxPolicy.Reject)
                throw new CocoFormatException($"annotation {a.Id}: box [{x}, {y}, {w}, {h}] (x, y, w, h) extends outside image {image.Id} of {image.Width}x{image.Height}");
            double[] box = [Math.Max(x, 0), Math.Max(y, 0), Math.Min(x + w, image.Width), Math.Min(y + h, image.Height)];
            if (a.IsCrowd) { ignored.Add(box); continue; }
            boxes.Add(box);
            labels.Add(dataset.LabelOf(a.CategoryId));
            if (masks is not null)
            {
                if (a.Segmentation is null) throw new CocoFormatException($"annotation {a.Id}: masks were requested but it has no segmentation");
                masks.Add(a.ToRle(image).Decode());
            }
        }
        return new CocoImageTargets(image, boxes, labels, ignored, masks, skipped);
    }
}
