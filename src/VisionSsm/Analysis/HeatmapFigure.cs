using System.Globalization;
using System.Runtime.InteropServices;
using VisionSsm.Runtime;
using SkiaSharp;

namespace VisionSsm.Analysis;

/// <summary>One cell of an ERF grid: the map, its row (model) and column (checkpoint), and a caption under it.</summary>
public sealed record ErfCell(string Row, string Column, ErfMap Map, string Caption);

/// <summary>
/// The PNG figures of the analyses, drawn with SkiaSharp and ScottPlot's colormaps: the ERF grid (a row per model, a
/// column per checkpoint, as VMamba's Fig. 10) and the CAM panel (input, map, overlay, as pytorch-grad-cam's
/// <c>show_cam_on_image</c>).
/// </summary>
public static class HeatmapFigure
{
    /// <summary>Decades of the ERF's log colour scale: values below max·10^-Decades get the lowest colour.</summary>
    public const int ErfDecades = 4;

    /// <summary>
    /// Log display value in [0, 1] of <paramref name="v"/> against the map's maximum: <c>1 + log10(v / max) / decades</c>,
    /// clipped (so the colour is independent of the gradients' overall magnitude, which differs between models).
    /// </summary>
    public static double LogDisplay(double v, double max, int decades = ErfDecades) =>
        max <= 0 || v <= 0 ? 0 : Math.Clamp(1 + Math.Log10(v / max) / decades, 0, 1);

    /// <summary>Draws the ERF grid to <paramref name="path"/> (PNG, written atomically); cells are <paramref name="cellSize"/> px.</summary>
    public static void SaveErfGrid(IReadOnlyList<ErfCell> cells, string path, string title, int cellSize = 240)
    {
        if (cells.Count == 0) throw new ArgumentException("no ERF maps to draw.", nameof(cells));
        var rows = cells.Select(c => c.Row).Distinct().ToList();
        var columns = cells.Select(c => c.Column).Distinct().ToList();
        var colormap = new ScottPlot.Colormaps.Viridis();
        const int top = 64, captionHeight = 40, gap = 12, barWidth = 110;
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 15);
        using var bold = new SKFont(SKTypeface.FromFamilyName(null, SKFontStyle.Bold), 17);
        int left = (int)rows.Max(r => bold.MeasureText(r)) + 24;
        int width = Math.Max(left + columns.Count * (cellSize + gap) + barWidth, (int)bold.MeasureText(title) + 24);
        int height = top + rows.Count * (cellSize + captionHeight + gap) + 8;
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawText(title, 12, 24, SKTextAlign.Left, bold, text);
        for (int c = 0; c < columns.Count; c++)
            canvas.DrawText(columns[c], left + c * (cellSize + gap) + cellSize / 2f, top - 10, SKTextAlign.Center, font, text);
        for (int r = 0; r < rows.Count; r++)
        {
            float y0 = top + r * (cellSize + captionHeight + gap);
            canvas.DrawText(rows[r], left - 10, y0 + cellSize / 2f, SKTextAlign.Right, bold, text);
            for (int c = 0; c < columns.Count; c++)
            {
                var cell = cells.FirstOrDefault(x => x.Row == rows[r] && x.Column == columns[c]);
                if (cell is null) continue;
                float x0 = left + c * (cellSize + gap);
                var m = cell.Map;
                double max = m.Values.Max();
                using var bitmap = ColourBitmap(m.Values, m.Height, m.Width, v => colormap.GetColor(LogDisplay(v, max)));
                using var image = SKImage.FromBitmap(bitmap);
                canvas.DrawImage(image, new SKRect(x0, y0, x0 + cellSize, y0 + cellSize), new SKSamplingOptions(SKFilterMode.Linear));
                var lines = cell.Caption.Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    canvas.DrawText(lines[i], x0 + cellSize / 2f, y0 + cellSize + 16 + 16 * i, SKTextAlign.Center, font, text);
            }
        }
        // Colour bar: the log scale's decades.
        float bx = width - barWidth + 20, by = top, bh = Math.Min(rows.Count * (cellSize + captionHeight + gap) - gap, 320);
        for (int i = 0; i < (int)bh; i++)
        {
            var col = colormap.GetColor(1 - i / (bh - 1));
            using var p = new SKPaint { Color = new SKColor(col.R, col.G, col.B) };
            canvas.DrawRect(bx, by + i, 18, 1, p);
        }
        for (int d = 0; d <= ErfDecades; d++)
        {
            float y = by + d * (bh - 1) / ErfDecades;
            canvas.DrawText(d == 0 ? "max" : $"1e-{d}", bx + 24, y + 5, SKTextAlign.Left, font, text);
        }
        Save(surface, path);
    }

    /// <summary>
    /// The CAM panel: the (de-normalised) input, the map in Turbo colours, and the overlay
    /// <c>(1 − w)·colour + w·image</c> divided by its maximum (pytorch-grad-cam, w = 0.5), each shown at least
    /// <paramref name="minSide"/> px; <paramref name="caption"/> under it.
    /// </summary>
    public static void SaveCamPanel(float[] imageChw, int channels, CamResult cam, string path, string caption, int minSide = 224, double imageWeight = 0.5)
    {
        int h = cam.ImageHeight, w = cam.ImageWidth, hw = h * w;
        if (imageChw.Length != channels * hw) throw new ArgumentException($"the image has {imageChw.Length} values; expected {channels}·{h}·{w}.", nameof(imageChw));
        var colormap = new ScottPlot.Colormaps.Turbo();
        var rgbImage = new double[3 * hw];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < hw; i++) rgbImage[c * hw + i] = Math.Clamp(imageChw[(channels == 3 ? c : 0) * hw + i], 0f, 1f);
        var heat = new double[3 * hw];
        for (int i = 0; i < hw; i++)
        {
            var col = colormap.GetColor(Math.Clamp(cam.Upsampled[i], 0, 1));
            (heat[i], heat[hw + i], heat[2 * hw + i]) = (col.R / 255.0, col.G / 255.0, col.B / 255.0);
        }
        var overlay = new double[3 * hw];
        for (int i = 0; i < overlay.Length; i++) overlay[i] = (1 - imageWeight) * heat[i] + imageWeight * rgbImage[i];
        double omax = overlay.Max();
        if (omax > 0) for (int i = 0; i < overlay.Length; i++) overlay[i] /= omax;

        int scale = Math.Max(1, (int)Math.Ceiling((double)minSide / Math.Max(h, w)));
        int sw = w * scale, sh = h * scale;
        const int gap = 10, captionHeight = 30;
        using var surface = SKSurface.Create(new SKImageInfo(3 * sw + 4 * gap, sh + 2 * gap + captionHeight));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        int k = 0;
        foreach (var planes in new[] { rgbImage, heat, overlay })
        {
            using var bitmap = RgbBitmap(planes, h, w);
            using var image = SKImage.FromBitmap(bitmap);
            float x0 = gap + k++ * (sw + gap);
            canvas.DrawImage(image, new SKRect(x0, gap, x0 + sw, gap + sh), new SKSamplingOptions(SKFilterMode.Nearest));
        }
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 14);
        canvas.DrawText(caption, gap, sh + gap + 20, SKTextAlign.Left, font, text);
        Save(surface, path);
    }

    static SKBitmap ColourBitmap(IReadOnlyList<double> values, int h, int w, Func<double, ScottPlot.Color> colour)
    {
        var px = new byte[4 * h * w];
        for (int i = 0; i < h * w; i++)
        {
            var c = colour(values[i]);
            (px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]) = (c.R, c.G, c.B, 255);
        }
        return FromRgba(px, h, w);
    }

    static SKBitmap RgbBitmap(double[] planes, int h, int w)
    {
        int hw = h * w;
        var px = new byte[4 * hw];
        static byte B(double v) => (byte)Math.Clamp((int)Math.Round(v * 255), 0, 255);
        for (int i = 0; i < hw; i++)
            (px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]) = (B(planes[i]), B(planes[hw + i]), B(planes[2 * hw + i]), 255);
        return FromRgba(px, h, w);
    }

    static SKBitmap FromRgba(byte[] px, int h, int w)
    {
        var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Marshal.Copy(px, 0, bitmap.GetPixels(), px.Length);
        return bitmap;
    }

    static void Save(SKSurface surface, string path)
    {
        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        if (data is null) throw new IOException($"{path}: SkiaSharp could not encode the figure.");
        AtomicFile.Write(path, data.SaveTo);
    }

    /// <summary>An area ratio as the caption shows it ("–" when no square short of the image holds the share).</summary>
    public static string Format(AreaRatio r) =>
        r.Ratio is not { } v ? "–" : v.ToString(v < 0.001 ? "0.0e0" : "F3", CultureInfo.InvariantCulture);
}
