namespace VisionSsm.Segmentation.Data;

/// <summary>The on-disk segmentation layouts <see cref="SegmentationDirectory"/> recognises.</summary>
public enum SegmentationLayout
{
    /// <summary>images/{training,validation} + annotations/… (<see cref="Ade20k"/>).</summary>
    Ade20k,
    /// <summary>JPEGImages + SegmentationClass + ImageSets/Segmentation (<see cref="PascalVoc"/>).</summary>
    PascalVoc,
    /// <summary>images/ + masks/ paired by stem (<see cref="SegmentationFolders"/>).</summary>
    Folders,
}

/// <summary>Recognises a segmentation data folder's layout and opens a split (what a <c>--data DIR</c> option accepts).</summary>
public static class SegmentationDirectory
{
    public static SegmentationLayout Detect(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"segmentation data folder not found: {root}");
        if (Ade20k.Matches(root)) return SegmentationLayout.Ade20k;
        if (PascalVoc.Matches(root)) return SegmentationLayout.PascalVoc;
        if (SegmentationFolders.Matches(root)) return SegmentationLayout.Folders;
        throw new DirectoryNotFoundException(
            $"{root} holds no recognised segmentation layout; expected one of: ADE20K (images/training, images/validation, " +
            "annotations/…), Pascal VOC (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt), or " +
            "images/ + masks/ folders paired by file stem (optionally with train/ and val/ subfolders, classes.txt for the names).");
    }

    /// <param name="classes">class names for the plain layout (else read from the folder); ADE20K and VOC have their own.</param>
    /// <param name="channels">image channels: 1 or 3, or 0 to keep the first image's (plain layout only).</param>
    public static SegmentationFileDataset Open(string root, bool train, IReadOnlyList<string>? classes = null, int channels = 3) =>
        Detect(root) switch
        {
            SegmentationLayout.Ade20k => Ade20k.Open(root, train, channels == 0 ? 3 : channels),
            SegmentationLayout.PascalVoc => PascalVoc.Open(root, train, channels == 0 ? 3 : channels),
            _ => SegmentationFolders.Open(root, train, classes, channels),
        };
}
