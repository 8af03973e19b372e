namespace VisionSsm.Segmentation.Data;

/// <summary>A semantic segmentation data set with random access: images and their label maps.</summary>
public interface ISegmentationDataset
{
    int Count { get; }

    /// <summary>Class names, indexed by label (the ignore label 255 is not a class).</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Decodes item <paramref name="index"/>; bad files throw with the path at fault.</summary>
    SegmentationSample Get(int index);
}
