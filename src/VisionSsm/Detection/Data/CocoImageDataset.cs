using VisionSsm.Data;
using VisionSsm.Detection.Coco;

namespace VisionSsm.Detection.Data;

/// <summary>
/// A COCO instances file with its image folder as detection samples (docs/detection.md §8). Checked when opened, so
/// a bad data set fails before training starts: every image file must exist; under <see cref="BoxPolicy.Reject"/> a
/// box reaching outside its image is an error naming the annotation (under <see cref="BoxPolicy.Clip"/> it is clipped
/// and one wholly outside is skipped, mmdetection's behaviour); a training split whose annotations leave no image
/// with an object is an error. For training, images without objects are left out (mmdet's <c>filter_empty_gt</c>);
/// for evaluation every image counts. On <see cref="Get"/> the decoded image must have the size the file states.
/// </summary>
public sealed class CocoImageDataset
{
    public CocoDataset Coco { get; }
    public string ImageDirectory { get; }
    public string AnnotationFile { get; }
    /// <summary>The images served, in file order (training: those with at least one object).</summary>
    public IReadOnlyList<CocoImage> Images { get; }
    /// <summary>Class names by contiguous label (categories by ascending id).</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>Channels of the decoded images: 1 when the first image is gray, else 3 (every image is converted to it).</summary>
    public int Channels { get; }
    public BoxPolicy Policy { get; }
    public bool WithMasks { get; }
    public int Count => Images.Count;

    CocoImageDataset(CocoDataset coco, string annotationFile, string imageDirectory, IReadOnlyList<CocoImage> images, int channels, BoxPolicy policy, bool withMasks)
    {
        (Coco, AnnotationFile, ImageDirectory, Images, Channels, Policy, WithMasks) = (coco, annotationFile, imageDirectory, images, channels, policy, withMasks);
        Classes = coco.Categories.Select(c => c.Name).ToList();
    }

    /// <summary>
    /// Opens <paramref name="annotationFile"/> with images under <paramref name="imageDirectory"/>. <paramref name="training"/>
    /// drops images without objects; <paramref name="withMasks"/> requires a segmentation on every non-crowd object;
    /// <paramref name="channels"/> 0 takes the first image's (gray 1, else 3).
    /// </summary>
    public static CocoImageDataset Open(string annotationFile, string imageDirectory, bool training, BoxPolicy policy = BoxPolicy.Reject,
        bool withMasks = true, int channels = 0)
    {
        if (!File.Exists(annotationFile)) throw new FileNotFoundException($"COCO annotation file '{annotationFile}' does not exist.", annotationFile);
        if (!Directory.Exists(imageDirectory)) throw new DirectoryNotFoundException($"image folder '{imageDirectory}' (for {annotationFile}) does not exist.");
        var coco = CocoDataset.Load(annotationFile);
        if (coco.Categories.Count == 0) throw new CocoFormatException($"{annotationFile}: \"categories\" is empty; expected at least one class.");
        if (coco.Images.Count == 0) throw new CocoFormatException($"{annotationFile}: \"images\" is empty.");
        foreach (var a in coco.Annotations)
        {
            var im = coco.Image(a.ImageId);
            double x = a.Bbox[0], y = a.Bbox[1], w = a.Bbox[2], h = a.Bbox[3];
            if (policy == BoxPolicy.Reject && (x < 0 || y < 0 || x + w > im.Width || y + h > im.Height))
                throw new CocoFormatException($"{annotationFile}: annotation {a.Id}: box [{x}, {y}, {w}, {h}] (x, y, w, h) reaches outside image {im.Id} " +
                                              $"({im.Width}×{im.Height}); fix the file or pass --box-policy clip to clip such boxes.");
            if (withMasks && !a.IsCrowd && a.Segmentation is null)
                throw new CocoFormatException($"{annotationFile}: annotation {a.Id} has no \"segmentation\"; Mask R-CNN training needs one on every object.");
        }
        var images = coco.Images;
        if (training)
        {
            images = coco.Images.Where(im => CocoTargets.For(coco, im.Id, BoxPolicy.Clip).Boxes.Count > 0).ToList();
            if (images.Count == 0)
                throw new CocoFormatException($"{annotationFile}: no image has an annotated object ({coco.Annotations.Count} annotations, none usable); " +
                                              "expected boxes with positive area inside their images.");
        }
        foreach (var im in images)
            if (!File.Exists(Path.Combine(imageDirectory, im.FileName)))
                throw new FileNotFoundException($"{annotationFile}: image {im.Id}: file '{Path.Combine(imageDirectory, im.FileName)}' does not exist.", im.FileName);
        if (channels == 0) channels = ImageDecoder.Decode(Path.Combine(imageDirectory, images[0].FileName)).Channels;
        return new CocoImageDataset(coco, annotationFile, imageDirectory, images, channels, policy, withMasks);
    }

    /// <summary>The decoded image <paramref name="index"/> with its training targets (crowd objects as ignored boxes).</summary>
    public DetectionSample Get(int index)
    {
        var im = Images[index];
        string path = Path.Combine(ImageDirectory, im.FileName);
        var image = ImageDecoder.Decode(path, channels: Channels);
        if (image.Height != im.Height || image.Width != im.Width)
            throw new InvalidDataException($"{AnnotationFile}: image {im.Id} is {im.Width}×{im.Height} in the file but '{path}' is {image.Width}×{image.Height}.");
        var t = CocoTargets.For(Coco, im.Id, Policy, WithMasks);
        return new DetectionSample(image.Pixels, image.Channels, image.Height, image.Width, Flatten(t.Boxes), t.Labels.ToArray(),
            t.Masks?.ToArray(), Flatten(t.IgnoredBoxes), image.Height, image.Width, im.Id);
    }

    static float[] Flatten(IReadOnlyList<double[]> boxes) => boxes.SelectMany(b => b.Select(v => (float)v)).ToArray();

    /// <summary>The ground truth restricted to the first <paramref name="limit"/> served images (0 = all), for evaluation.</summary>
    public CocoDataset GroundTruth(int limit = 0)
    {
        if (limit <= 0 || limit >= Coco.Images.Count && Images.Count == Coco.Images.Count) return Coco;
        var keep = Images.Take(limit).ToList();
        var ids = keep.Select(i => i.Id).ToHashSet();
        return new CocoDataset(keep, Coco.Annotations.Where(a => ids.Contains(a.ImageId)).ToList(), Coco.Categories);
    }
}
