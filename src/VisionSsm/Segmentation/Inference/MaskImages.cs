using VisionSsm.Data;
using VisionSsm.Segmentation.Data;

namespace VisionSsm.Segmentation.Inference;

/// <summary>
/// Pictures of label maps: palette PNG masks (the file stores the labels, viewers show VOC colours), colourised
/// masks, overlays of a mask on its image (mmseg's visualiser blend: image·(1 − α) + colour·α, α = 0.5 by default;
/// ignored pixels keep the image), and tiles of such panels (e.g. input | ground truth | prediction). Files are
/// written atomically.
/// </summary>
public static class MaskImages
{
    /// <summary>Writes <paramref name="labels"/> (H·W) as an 8-bit palette PNG with the VOC colours.</summary>
    public static void SaveMask(string path, ReadOnlySpan<byte> labels, int height, int width) =>
        LabelPng.Write(path, labels, height, width);

    /// <summary>An RGB picture of a label map in the VOC colours.</summary>
    public static ImageSample Colorize(ReadOnlySpan<byte> labels, int height, int width)
    {
        CheckSize(labels.Length, height, width);
        int hw = height * width;
        var px = new float[3 * hw];
        for (int i = 0; i < hw; i++)
        {
            var (r, g, b) = SegmentationPalette.Color(labels[i]);
            px[i] = r / 255f; px[hw + i] = g / 255f; px[2 * hw + i] = b / 255f;
        }
        return new ImageSample(px, 3, height, width, 0);
    }

    /// <summary>
    /// The image (1 or 3 channels, values in [0, 1]; gray is replicated) blended with the colours of
    /// <paramref name="labels"/>: (1 − <paramref name="alpha"/>)·image + alpha·colour; ignore-label pixels keep the image.
    /// </summary>
    public static ImageSample Overlay(float[] pixels, int channels, int height, int width, ReadOnlySpan<byte> labels, float alpha = 0.5f)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected a 1- or 3-channel image.");
        if (pixels.Length != channels * height * width) throw new ArgumentException($"pixels has {pixels.Length} values; expected {channels}·{height}·{width}.", nameof(pixels));
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "expected an opacity in [0, 1].");
        CheckSize(labels.Length, height, width);
        int hw = height * width;
        var px = new float[3 * hw];
        for (int i = 0; i < hw; i++)
        {
            var (r, g, b) = SegmentationPalette.Color(labels[i]);
            bool keep = labels[i] == SegmentationLabels.IgnoreIndex;
            for (int c = 0; c < 3; c++)
            {
                float v = Math.Clamp(pixels[(channels == 1 ? 0 : c) * hw + i], 0f, 1f);
                float colour = (c == 0 ? r : c == 1 ? g : b) / 255f;
                px[c * hw + i] = keep ? v : (1 - alpha) * v + alpha * colour;
            }
        }
        return new ImageSample(px, 3, height, width, 0);
    }

    /// <summary>Overlay of a sample's own mask (ground truth) or of <paramref name="labels"/> when given.</summary>
    public static ImageSample Overlay(SegmentationSample s, byte[]? labels = null, float alpha = 0.5f) =>
        Overlay(s.Pixels, s.Channels, s.Height, s.Width, labels ?? s.Mask, alpha);

    /// <summary>Writes an overlay PNG (or JPEG by extension).</summary>
    public static void SaveOverlay(string path, SegmentationSample s, byte[]? labels = null, float alpha = 0.5f) =>
        ImageDecoder.Save(Overlay(s, labels, alpha), path);

    /// <summary>
    /// Lays out panels in rows (all converted to RGB, gray replicated) on a white background with
    /// <paramref name="gap"/> pixels between them; each cell is as large as the largest panel of its row / column.
    /// </summary>
    public static ImageSample Tile(IReadOnlyList<IReadOnlyList<ImageSample>> rows, int gap = 2)
    {
        if (rows.Count == 0 || rows.Any(r => r.Count == 0)) throw new ArgumentException("expected at least one panel in every row.", nameof(rows));
        if (gap < 0) throw new ArgumentOutOfRangeException(nameof(gap), gap, "expected a non-negative gap.");
        int cols = rows.Max(r => r.Count);
        var rowH = rows.Select(r => r.Max(p => p.Height)).ToArray();
        var colW = Enumerable.Range(0, cols).Select(c => rows.Where(r => c < r.Count).Max(r => r[c].Width)).ToArray();
        int h = rowH.Sum() + gap * (rows.Count - 1), w = colW.Sum() + gap * (cols - 1), hw = h * w;
        var px = new float[3 * hw];
        Array.Fill(px, 1f);
        int y0 = 0;
        for (int r = 0; r < rows.Count; r++)
        {
            int x0 = 0;
            for (int c = 0; c < rows[r].Count; c++)
            {
                var p = rows[r][c];
                if (p.Channels is not (1 or 3)) throw new ArgumentException($"panel ({r}, {c}) has {p.Channels} channels; expected 1 or 3.", nameof(rows));
                int phw = p.Height * p.Width;
                for (int ch = 0; ch < 3; ch++)
                    for (int i = 0; i < p.Height; i++)
                        for (int j = 0; j < p.Width; j++)
                            px[ch * hw + (y0 + i) * w + x0 + j] = Math.Clamp(p.Pixels[(p.Channels == 1 ? 0 : ch) * phw + i * p.Width + j], 0f, 1f);
                x0 += colW[c] + gap;
            }
            y0 += rowH[r] + gap;
        }
        return new ImageSample(px, 3, h, w, 0);
    }

    /// <summary>The picture scaled up by an integer <paramref name="factor"/> (nearest neighbour).</summary>
    public static ImageSample Zoom(ImageSample p, int factor)
    {
        if (factor < 1) throw new ArgumentOutOfRangeException(nameof(factor), factor, "expected a factor of at least 1.");
        if (factor == 1) return p;
        int h = p.Height * factor, w = p.Width * factor, hw = h * w, phw = p.Height * p.Width;
        var px = new float[p.Channels * hw];
        for (int c = 0; c < p.Channels; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    px[c * hw + y * w + x] = p.Pixels[c * phw + (y / factor) * p.Width + x / factor];
        return new ImageSample(px, p.Channels, h, w, p.Label);
    }

    static void CheckSize(int n, int height, int width)
    {
        if (height <= 0 || width <= 0 || n != height * width)
            throw new ArgumentException($"label map has {n} pixels; expected {height}·{width} (both positive).");
    }
}
