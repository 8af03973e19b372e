using SkiaSharp;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;

namespace VisionSsm.Segmentation.Visualization;

/// <summary>
/// PNGs for looking at segmentations: label maps in the VOC palette (<see cref="SegmentationPalette"/>), overlays of a
/// label map on its image, and a grid of input / ground truth / prediction rows for a run folder.
/// </summary>
public static class SegmentationImages
{
    static SKColor Gray(SegmentationSample s, int i)
    {
        int plane = s.Height * s.Width;
        byte V(int c) => (byte)Math.Clamp((int)Math.Round(255 * s.Pixels[c * plane + i]), 0, 255);
        return s.Channels >= 3 ? new SKColor(V(0), V(1), V(2)) : new SKColor(V(0), V(0), V(0));
    }

    static SKColor Label(byte label)
    {
        var (r, g, b) = SegmentationPalette.Color(label);
        return new SKColor(r, g, b);
    }

    /// <summary>The image with the label colours blended in at <paramref name="alpha"/> (background label 0 left as is when <paramref name="skipZero"/>).</summary>
    public static SKBitmap Overlay(SegmentationSample image, ReadOnlySpan<byte> labels, double alpha = 0.5, bool skipZero = true)
    {
        var bmp = new SKBitmap(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                int i = y * image.Width + x;
                var g = Gray(image, i);
                byte l = labels[i];
                if (skipZero && l == 0) { bmp.SetPixel(x, y, g); continue; }
                var c = Label(l);
                byte Mix(byte a, byte b) => (byte)Math.Round((1 - alpha) * a + alpha * b);
                bmp.SetPixel(x, y, new SKColor(Mix(g.Red, c.Red), Mix(g.Green, c.Green), Mix(g.Blue, c.Blue)));
            }
        return bmp;
    }

    /// <summary>Writes <see cref="Overlay"/> as a PNG (atomically).</summary>
    public static void WriteOverlay(string path, SegmentationSample image, ReadOnlySpan<byte> labels, double alpha = 0.5)
    {
        using var bmp = Overlay(image, labels, alpha);
        Save(bmp, path);
    }

    /// <summary>
    /// A grid with one row per sample: input, ground truth (palette), prediction (palette), each scaled by
    /// <paramref name="zoom"/> (nearest), separated by 2-px white gaps.
    /// </summary>
    public static void WriteGrid(string path, IReadOnlyList<SegmentationSample> samples, IReadOnlyList<byte[]> predictions, int zoom = 3)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples to draw.", nameof(samples));
        if (predictions.Count != samples.Count) throw new ArgumentException($"{predictions.Count} predictions for {samples.Count} samples.", nameof(predictions));
        const int gap = 2;
        int cellW = samples.Max(s => s.Width) * zoom, cellH = samples.Max(s => s.Height) * zoom;
        using var bmp = new SKBitmap(3 * cellW + 4 * gap, samples.Count * (cellH + gap) + gap, SKColorType.Rgba8888, SKAlphaType.Premul);
        bmp.Erase(SKColors.White);
        for (int r = 0; r < samples.Count; r++)
        {
            var s = samples[r];
            int top = gap + r * (cellH + gap);
            for (int y = 0; y < s.Height * zoom; y++)
                for (int x = 0; x < s.Width * zoom; x++)
                {
                    int i = (y / zoom) * s.Width + x / zoom;
                    bmp.SetPixel(gap + x, top + y, Gray(s, i));
                    bmp.SetPixel(2 * gap + cellW + x, top + y, Label(s.Mask[i]));
                    bmp.SetPixel(3 * gap + 2 * cellW + x, top + y, Label(predictions[r][i]));
                }
        }
        Save(bmp, path);
    }

    static void Save(SKBitmap bmp, string path)
    {
        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        var bytes = data.ToArray();
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }
}
