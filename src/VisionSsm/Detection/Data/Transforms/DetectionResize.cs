using VisionSsm.Segmentation.Data.Transforms;

namespace VisionSsm.Detection.Data.Transforms;

/// <summary>
/// mmdetection's <c>Resize(scale=(long, short), keep_ratio=True)</c>: the factor is the largest that fits the image's
/// long side into <c>long</c> and its short side into <c>short</c> (mmcv <c>rescale_size</c>), the new size is
/// (⌊w·f + ½⌋, ⌊h·f + ½⌋); the image is resampled bilinearly (OpenCV's <c>INTER_LINEAR</c>, <see cref="JointResize"/>),
/// masks by nearest neighbour (mmdet's <c>BitmapMasks.rescale</c>), and boxes are scaled by the actual ratios
/// new/old per axis and clipped to the new image (<c>clip_object_border</c>).
/// </summary>
public static class DetectionResize
{
    /// <summary>The keep-ratio size (height, width) for an image of <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static (int Height, int Width) KeepRatioSize(int height, int width, int longSide, int shortSide)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"image size {height}×{width} must be positive.");
        if (longSide < 1 || shortSide < 1) throw new ArgumentException($"scale ({longSide}, {shortSide}) must be positive.");
        int lo = Math.Max(longSide, shortSide), sh = Math.Min(longSide, shortSide);
        double f = Math.Min((double)lo / Math.Max(height, width), (double)sh / Math.Min(height, width));
        return (Math.Max(1, (int)(height * f + 0.5)), Math.Max(1, (int)(width * f + 0.5)));
    }

    /// <summary>Resizes image, masks and boxes of <paramref name="s"/> to <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static DetectionSample Apply(DetectionSample s, int height, int width)
    {
        if (height == s.Height && width == s.Width) return s;
        float sx = (float)width / s.Width, sy = (float)height / s.Height;
        return s with
        {
            Pixels = JointResize.Bilinear(s.Pixels, s.Channels, s.Height, s.Width, height, width),
            Height = height, Width = width,
            Boxes = Scale(s.Boxes, sx, sy, width, height),
            IgnoredBoxes = Scale(s.IgnoredBoxes, sx, sy, width, height),
            Masks = s.Masks?.Select(m => JointResize.Nearest(m, s.Height, s.Width, height, width)).ToArray(),
        };
    }

    /// <summary>(x1, y1, x2, y2) rows scaled by (sx, sy) and clipped to [0, w]×[0, h].</summary>
    public static float[] Scale(float[] boxes, float sx, float sy, int w, int h)
    {
        var r = new float[boxes.Length];
        for (int i = 0; i < boxes.Length; i += 4)
        {
            r[i] = Math.Clamp(boxes[i] * sx, 0, w);
            r[i + 1] = Math.Clamp(boxes[i + 1] * sy, 0, h);
            r[i + 2] = Math.Clamp(boxes[i + 2] * sx, 0, w);
            r[i + 3] = Math.Clamp(boxes[i + 3] * sy, 0, h);
        }
        return r;
    }
}
