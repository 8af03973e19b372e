namespace VisionSsm.Detection.Data.Transforms;

/// <summary>
/// mmdetection's horizontal <c>RandomFlip</c>: the image and masks are mirrored, and a box (x1, y1, x2, y2) becomes
/// (W − x2, y1, W − x1, y2), so it still encloses the same (mirrored) pixels.
/// </summary>
public static class DetectionFlip
{
    public static DetectionSample Horizontal(DetectionSample s)
    {
        int h = s.Height, w = s.Width;
        var pixels = new float[s.Pixels.Length];
        for (int c = 0; c < s.Channels; c++)
            for (int y = 0; y < h; y++)
            {
                int row = (c * h + y) * w;
                for (int x = 0; x < w; x++) pixels[row + w - 1 - x] = s.Pixels[row + x];
            }
        return s with
        {
            Pixels = pixels,
            Boxes = FlipBoxes(s.Boxes, w),
            IgnoredBoxes = FlipBoxes(s.IgnoredBoxes, w),
            Masks = s.Masks?.Select(m => FlipMask(m, h, w)).ToArray(),
        };
    }

    public static float[] FlipBoxes(float[] boxes, int width)
    {
        var r = new float[boxes.Length];
        for (int i = 0; i < boxes.Length; i += 4)
        {
            r[i] = width - boxes[i + 2];
            r[i + 1] = boxes[i + 1];
            r[i + 2] = width - boxes[i];
            r[i + 3] = boxes[i + 3];
        }
        return r;
    }

    public static byte[] FlipMask(byte[] mask, int height, int width)
    {
        var r = new byte[mask.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) r[y * width + width - 1 - x] = mask[y * width + x];
        return r;
    }
}
