namespace VisionSsm.Segmentation.Data;

/// <summary>Label-map conventions shared by readers, transforms, losses and metrics (mmsegmentation's).</summary>
public static class SegmentationLabels
{
    /// <summary>Pixels with this label are left out of the loss and the metrics (mmseg's <c>ignore_index</c>; VOC's border colour).</summary>
    public const byte IgnoreIndex = 255;

    /// <summary>Throws when a label in <paramref name="mask"/> is neither a class index below <paramref name="classes"/> nor the ignore label.</summary>
    public static void Validate(ReadOnlySpan<byte> mask, int classes, string source)
    {
        if (classes is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(classes), classes, "expected 1 to 255 classes.");
        for (int i = 0; i < mask.Length; i++)
        {
            byte v = mask[i];
            if (v >= classes && v != IgnoreIndex)
                throw new InvalidDataException(
                    $"{source}: label {v} at pixel {i} is out of range for {classes} classes; expected 0..{classes - 1} or {IgnoreIndex} (ignore).");
        }
    }
}
