namespace VisionSsm.Detection.Data;

/// <summary>
/// One image with its instances, in the image's current pixel frame: <paramref name="Pixels"/> channel-first (C, H, W)
/// floats in [0, 1]; <paramref name="Boxes"/> n·4 values (x1, y1, x2, y2) with contiguous <paramref name="Labels"/>
/// (0..K−1); <paramref name="Masks"/> one H·W byte mask (0/1, row-major) per instance, or null without masks;
/// <paramref name="IgnoredBoxes"/> m·4 values (crowd regions). <paramref name="OriginalHeight"/>×<paramref name="OriginalWidth"/>
/// is the size as read from disk, <paramref name="ImageId"/> the COCO image id.
/// </summary>
public sealed record DetectionSample(float[] Pixels, int Channels, int Height, int Width, float[] Boxes, int[] Labels, byte[][]? Masks,
    float[] IgnoredBoxes, int OriginalHeight, int OriginalWidth, long ImageId)
{
    /// <summary>Number of (non-crowd) instances.</summary>
    public int Count => Labels.Length;
}
