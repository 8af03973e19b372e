using static TorchSharp.torch;

namespace VisionSsm.Detection.Boxes;

/// <summary>
/// mmdetection's <c>AnchorGenerator</c> (<c>mmdet/models/task_modules/prior_generators/anchor_generator.py</c>, v2 and
/// later) for the FPN RPN: per level a base size equal to the stride, anchors of area (base·scale)² for each ratio
/// r = h/w (<c>h = base·scale·√r</c>, <c>w = base·scale/√r</c>), centred at <c>centerOffset·stride</c> with no rounding,
/// then repeated at every feature-map cell with shifts <c>(x·stride, y·stride)</c>. Order within a level: cells row
/// by row (y outer, x inner), and at each cell ratio-major then scale (<c>scale_major</c>).
/// </summary>
public sealed class AnchorGenerator
{
    public IReadOnlyList<int> Strides { get; }
    public IReadOnlyList<double> Ratios { get; }
    public IReadOnlyList<double> Scales { get; }
    public double CenterOffset { get; }

    /// <summary>Anchors per cell (ratios × scales).</summary>
    public int AnchorsPerCell => Ratios.Count * Scales.Count;

    /// <summary>The Mask R-CNN FPN RPN setting: strides 4–64, ratios 0.5/1/2, scale 8 (32 px anchors at stride 4).</summary>
    public static AnchorGenerator MaskRcnn => new([4, 8, 16, 32, 64], [0.5, 1.0, 2.0], [8.0]);

    public AnchorGenerator(IReadOnlyList<int> strides, IReadOnlyList<double> ratios, IReadOnlyList<double> scales, double centerOffset = 0)
    {
        if (strides.Count == 0 || strides.Any(s => s < 1))
            throw new ArgumentException($"strides must be positive integers, got [{string.Join(", ", strides)}]", nameof(strides));
        if (ratios.Count == 0 || ratios.Any(r => !(r > 0) || double.IsInfinity(r)))
            throw new ArgumentException($"ratios must be positive, got [{string.Join(", ", ratios)}]", nameof(ratios));
        if (scales.Count == 0 || scales.Any(s => !(s > 0) || double.IsInfinity(s)))
            throw new ArgumentException($"scales must be positive, got [{string.Join(", ", scales)}]", nameof(scales));
        if (!(centerOffset >= 0 && centerOffset < 1))
            throw new ArgumentOutOfRangeException(nameof(centerOffset), $"centerOffset must be in [0, 1), got {centerOffset}");
        Strides = strides.ToArray(); Ratios = ratios.ToArray(); Scales = scales.ToArray(); CenterOffset = centerOffset;
    }

    /// <summary>The (A, 4) anchors of <paramref name="level"/> centred at the level's cell origin offset.</summary>
    public Tensor BaseAnchors(int level, ScalarType dtype = ScalarType.Float32) =>
        tensor(BaseAnchorValues(level), new long[] { AnchorsPerCell, 4 }).to(dtype);

    double[] BaseAnchorValues(int level)
    {
        CheckLevel(level);
        double size = Strides[level], cx = CenterOffset * size, cy = CenterOffset * size;
        var a = new double[AnchorsPerCell * 4];
        int k = 0;
        foreach (double r in Ratios)
        {
            double hr = Math.Sqrt(r), wr = 1 / hr;
            foreach (double s in Scales)
            {
                double w = size * wr * s, h = size * hr * s;
                a[k++] = cx - 0.5 * w; a[k++] = cy - 0.5 * h; a[k++] = cx + 0.5 * w; a[k++] = cy + 0.5 * h;
            }
        }
        return a;
    }

    /// <summary>All anchors (H·W·A, 4) of a <paramref name="height"/> × <paramref name="width"/> map at <paramref name="level"/>.</summary>
    public Tensor GridAnchors(int level, int height, int width, ScalarType dtype = ScalarType.Float32)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"feature map must be at least 1x1, got {height}x{width}");
        var b = BaseAnchorValues(level);
        int a = AnchorsPerCell, stride = Strides[level];
        var v = new double[(long)height * width * a * 4];
        long o = 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int j = 0; j < a; j++)
                {
                    v[o++] = b[4 * j] + x * stride; v[o++] = b[4 * j + 1] + y * stride;
                    v[o++] = b[4 * j + 2] + x * stride; v[o++] = b[4 * j + 3] + y * stride;
                }
        return tensor(v, new long[] { (long)height * width * a, 4 }).to(dtype);
    }

    /// <summary>
    /// Flags (H·W·A) marking anchors whose cell lies inside the valid (unpadded) part of the map,
    /// <c>ceil(imageH/stride) × ceil(imageW/stride)</c>, as mmdetection's <c>valid_flags</c>.
    /// </summary>
    public Tensor ValidFlags(int level, int height, int width, int imageHeight, int imageWidth)
    {
        CheckLevel(level);
        int stride = Strides[level];
        int vh = Math.Min(height, (int)Math.Ceiling(imageHeight / (double)stride));
        int vw = Math.Min(width, (int)Math.Ceiling(imageWidth / (double)stride));
        int a = AnchorsPerCell;
        var f = new bool[(long)height * width * a];
        for (int y = 0; y < vh; y++)
            for (int x = 0; x < vw; x++)
                for (int j = 0; j < a; j++) f[((long)y * width + x) * a + j] = true;
        return tensor(f);
    }

    void CheckLevel(int level)
    {
        if (level < 0 || level >= Strides.Count)
            throw new ArgumentOutOfRangeException(nameof(level), $"level must be in [0, {Strides.Count}), got {level}");
    }
}
