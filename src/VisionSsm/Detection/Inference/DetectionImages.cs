using System.Runtime.InteropServices;
using SkiaSharp;
using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Inference;

namespace VisionSsm.Detection.Inference;

/// <summary>
/// Pictures of detections (mmdetection's <c>DetLocalVisualizer</c> in spirit): masks blended at opacity 0.5 in the
/// class's colour (the VOC colour map of <see cref="SegmentationPalette"/>, label + 1 so no class is black; where masks
/// overlap the higher-scoring one shows), then each box outlined in that colour with "class score" above it. Small
/// images are enlarged first (nearest neighbour) so the text is readable.
/// </summary>
public static class DetectionImages
{
    /// <summary>The image (1 or 3 channels, [0, 1]) with the detections scoring at least <paramref name="scoreThreshold"/>.</summary>
    public static ImageSample Draw(ImageSample image, DetectionList d, IReadOnlyList<string> classes, double scoreThreshold = 0.3, int minSide = 384)
    {
        if (d.Height != image.Height || d.Width != image.Width)
            throw new ArgumentException($"detections are for a {d.Width}×{d.Height} image; the image is {image.Width}×{image.Height}.", nameof(d));
        var shown = Enumerable.Range(0, d.Count).Where(i => d.Scores[i] >= scoreThreshold).OrderBy(i => d.Scores[i]).ToList();
        var labels = new byte[image.Height * image.Width];
        Array.Fill(labels, SegmentationLabels.IgnoreIndex);
        if (d.Masks is { } masks)
            foreach (int i in shown)   // ascending score: the best detection is drawn last
                for (int p = 0; p < labels.Length; p++)
                    if (masks[i][p] != 0) labels[p] = Colour(d.Labels[i]);
        var overlay = MaskImages.Overlay(image.Pixels, image.Channels, image.Height, image.Width, labels);
        int zoom = Math.Max(1, (int)Math.Ceiling((double)minSide / Math.Max(image.Height, image.Width)));
        var big = MaskImages.Zoom(overlay, zoom);
        return DrawBoxes(big, shown.Select(i => (
            Box: d.Boxes.AsSpan(4 * i, 4).ToArray().Select(v => (float)(v * zoom)).ToArray(),
            Label: d.Labels[i],
            Text: $"{(d.Labels[i] >= 0 && d.Labels[i] < classes.Count ? classes[(int)d.Labels[i]] : d.Labels[i].ToString())} {d.Scores[i]:0.00}")).ToList());
    }

    public static void Save(string path, ImageSample image, DetectionList d, IReadOnlyList<string> classes, double scoreThreshold = 0.3) =>
        ImageDecoder.Save(Draw(image, d, classes, scoreThreshold), path);

    static byte Colour(long label) => (byte)(label % 254 + 1);

    static ImageSample DrawBoxes(ImageSample rgb, IReadOnlyList<(float[] Box, long Label, string Text)> boxes)
    {
        int h = rgb.Height, w = rgb.Width, hw = h * w;
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(info);
        var buf = new byte[4 * hw];
        static byte B(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
        for (int i = 0; i < hw; i++)
        {
            buf[4 * i] = B(rgb.Pixels[i]); buf[4 * i + 1] = B(rgb.Pixels[hw + i]); buf[4 * i + 2] = B(rgb.Pixels[2 * hw + i]); buf[4 * i + 3] = 255;
        }
        Marshal.Copy(buf, 0, bmp.GetPixels(), buf.Length);
        using (var canvas = new SKCanvas(bmp))
        using (var font = new SKFont(SKTypeface.Default, 13))
        {
            foreach (var (box, label, text) in boxes)
            {
                var (r, g, b) = SegmentationPalette.Color(Colour(label));
                var colour = new SKColor(r, g, b);
                using var stroke = new SKPaint { Color = colour, Style = SKPaintStyle.Stroke, StrokeWidth = 2, IsAntialias = false };
                canvas.DrawRect(SKRect.Create(box[0], box[1], box[2] - box[0], box[3] - box[1]), stroke);
                float tw = font.MeasureText(text), ty = Math.Max(box[1] - 2, 13);
                using var fill = new SKPaint { Color = colour, Style = SKPaintStyle.Fill };
                canvas.DrawRect(SKRect.Create(box[0], ty - 12, tw + 4, 15), fill);
                using var ink = new SKPaint { Color = r + g + b > 380 ? SKColors.Black : SKColors.White, IsAntialias = true };
                canvas.DrawText(text, box[0] + 2, ty, SKTextAlign.Left, font, ink);
            }
        }
        Marshal.Copy(bmp.GetPixels(), buf, 0, buf.Length);
        var px = new float[3 * hw];
        for (int i = 0; i < hw; i++)
            for (int c = 0; c < 3; c++) px[c * hw + i] = buf[4 * i + c] / 255f;
        return new ImageSample(px, 3, h, w, 0);
    }
}
