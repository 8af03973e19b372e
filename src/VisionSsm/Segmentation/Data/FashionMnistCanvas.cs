using VisionSsm.Data;
using VisionSsm.Data.Transforms;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// Composes a semantic segmentation data set from Fashion-MNIST (docs/segmentation-data.md): each canvas is black and
/// holds a few items at random positions and scales; a pixel is labelled with its item's class + 1 where the item's
/// ink is (scaled value ≥ <see cref="CanvasOptions.InkThreshold"/>) and 0 (background) elsewhere; later items are
/// drawn over earlier ones (pixels and labels). Train canvases take their items from the train split, test canvases
/// from the test split, so the two never share a source image.
/// </summary>
public static class FashionMnistCanvas
{
    /// <summary>Fashion-MNIST items are 28×28.</summary>
    public const int ItemPixels = 28;

    /// <summary>Label 0 is the background; label k + 1 is Fashion-MNIST class k.</summary>
    public static readonly IReadOnlyList<string> ClassNames = ["background", .. FashionMnist.ClassNames];

    /// <summary>The train or test canvases over the packaged Fashion-MNIST (a clear error with the install command if missing).</summary>
    public static CanvasDataset Open(bool train, CanvasOptions? options = null, string fashionMnistDirectory = FashionMnist.DefaultDirectory) =>
        new(FashionMnist.Load(train, fashionMnistDirectory), train, options ?? new CanvasOptions());

    /// <summary>
    /// The items of canvas <paramref name="index"/>, drawn from the generator <c>SeedMixer.Rng(seed, 1 (train) or 2
    /// (test), index)</c> in this order: item count uniform in [MinItems, MaxItems]; then per item the source index
    /// uniform in [0, sourceCount), the scale uniform in [MinScale, MaxScale), and the top-left x then y uniform over
    /// the positions that keep the whole item on the canvas. With <see cref="CanvasOptions.MaxOverlap"/> below 1 the
    /// position is drawn again until the item's square overlaps every earlier item's square by at most that share of
    /// the smaller square's area, at most <see cref="CanvasOptions.PositionDraws"/> draws in all; the draw with the
    /// smallest worst overlap is kept (the first on ties).
    /// </summary>
    public static IReadOnlyList<CanvasItem> Plan(CanvasOptions o, bool train, int index, int sourceCount, Func<int, int> labelOf)
    {
        var rng = SeedMixer.Rng(o.Seed, train ? 1 : 2, index);
        int n = rng.Next(o.MinItems, o.MaxItems + 1);
        var items = new CanvasItem[n];
        for (int k = 0; k < n; k++)
        {
            int src = rng.Next(sourceCount);
            double scale = o.MinScale + rng.NextDouble() * (o.MaxScale - o.MinScale);
            int side = CanvasOptions.ItemSize(scale);
            int x = 0, y = 0;
            double best = double.PositiveInfinity;
            for (int draw = 0; draw < CanvasOptions.PositionDraws; draw++)   // an overlap is at most 1: no cap keeps the first draw
            {
                int cx = rng.Next(o.Size - side + 1), cy = rng.Next(o.Size - side + 1);
                double overlap = WorstOverlap(items.AsSpan(0, k), cx, cy, side);
                if (overlap < best) (best, x, y) = (overlap, cx, cy);
                if (best <= o.MaxOverlap) break;
            }
            items[k] = new CanvasItem(src, labelOf(src), scale, side, x, y);
        }
        return items;
    }

    /// <summary>
    /// The largest overlap of the square at (<paramref name="x"/>, <paramref name="y"/>) of side <paramref name="side"/>
    /// with an earlier item's square, as a share of the smaller square's area (0 when it overlaps none).
    /// </summary>
    public static double WorstOverlap(ReadOnlySpan<CanvasItem> earlier, int x, int y, int side)
    {
        double worst = 0;
        foreach (var p in earlier)
        {
            int w = Math.Min(x + side, p.X + p.Side) - Math.Max(x, p.X);
            int h = Math.Min(y + side, p.Y + p.Side) - Math.Max(y, p.Y);
            int smaller = Math.Min(side, p.Side);
            if (w > 0 && h > 0) worst = Math.Max(worst, (double)w * h / ((double)smaller * smaller));
        }
        return worst;
    }

    /// <summary>
    /// Draws <paramref name="items"/> in order on a black canvas: each source image is resized to its side with the
    /// bilinear filter (PIL semantics, <see cref="Resampler"/>), and every pixel whose scaled value reaches the ink
    /// threshold overwrites the canvas pixel (clamped to [0, 1]) and sets the label to the item's class + 1.
    /// </summary>
    public static SegmentationSample Render(IReadOnlyList<CanvasItem> items, Func<int, ImageSample> source, CanvasOptions o)
    {
        var (gray, owner) = Compose(items, source, o);
        var mask = new byte[owner.Length];
        for (int p = 0; p < owner.Length; p++)
            if (owner[p] != 0) mask[p] = (byte)(items[owner[p] - 1].ClassIndex + 1);
        return new SegmentationSample(ToChannels(gray, o.Channels), o.Channels, o.Size, o.Size, mask);
    }

    /// <summary>
    /// The drawing behind <see cref="Render"/>: the gray canvas and, per pixel, which item's ink is visible there
    /// (k + 1 for <c>items[k]</c>, 0 for background); later items overwrite earlier ones. Instance masks after
    /// occlusion are the pixels owned by each item.
    /// </summary>
    public static (float[] Gray, byte[] Owner) Compose(IReadOnlyList<CanvasItem> items, Func<int, ImageSample> source, CanvasOptions o)
    {
        if (items.Count > byte.MaxValue) throw new ArgumentOutOfRangeException(nameof(items), items.Count, "expected at most 255 items per canvas.");
        int size = o.Size;
        var gray = new float[size * size];
        var owner = new byte[size * size];
        for (int k = 0; k < items.Count; k++)
        {
            var item = items[k];
            var img = source(item.SourceIndex);
            var scaled = Resampler.Resize(img.Pixels, 1, img.Height, img.Width, item.Side, item.Side, Interpolation.Bilinear);
            for (int i = 0; i < item.Side; i++)
            for (int j = 0; j < item.Side; j++)
            {
                float v = scaled[i * item.Side + j];
                if (v < o.InkThreshold) continue;
                int p = (item.Y + i) * size + item.X + j;
                gray[p] = Math.Min(v, 1f);
                owner[p] = (byte)(k + 1);
            }
        }
        return (gray, owner);
    }

    /// <summary>The gray canvas as it is (1 channel) or replicated to R, G and B (3 channels).</summary>
    public static float[] ToChannels(float[] gray, int channels)
    {
        if (channels == 1) return gray;
        var rgb = new float[channels * gray.Length];
        for (int c = 0; c < channels; c++) gray.CopyTo(rgb, c * gray.Length);
        return rgb;
    }
}
