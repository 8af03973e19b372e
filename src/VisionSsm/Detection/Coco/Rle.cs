using System.Text;

namespace VisionSsm.Detection.Coco;

/// <summary>
/// A binary mask as COCO run-length encoding (pycocotools' <c>common/maskApi.c</c>): pixels in column-major order
/// (down each column, then the next column), <see cref="Counts"/> alternating runs of 0s and 1s starting with 0s (the
/// first run may be empty). The canonical form has no other empty runs. Masks handed in and out of this class as
/// arrays are row-major H×W bytes (our tensors' layout); only the encoding is column-major.
/// </summary>
public sealed class Rle
{
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<uint> Counts => counts;
    readonly uint[] counts;

    /// <summary>Wraps run lengths; they must sum to <paramref name="height"/>·<paramref name="width"/>.</summary>
    public Rle(int height, int width, IReadOnlyList<uint> counts)
    {
        if (height < 0 || width < 0) throw new ArgumentOutOfRangeException(nameof(height), $"mask size must be >= 0, got {height}x{width}");
        ulong sum = 0;
        foreach (var c in counts) sum += c;
        if (sum != (ulong)height * (ulong)width)
            throw new ArgumentException($"RLE counts sum to {sum} but the mask has {height}x{width} = {(long)height * width} pixels", nameof(counts));
        Height = height; Width = width; this.counts = counts.ToArray();
    }

    /// <summary>Encodes a row-major H×W mask (nonzero = foreground).</summary>
    public static Rle Encode(ReadOnlySpan<byte> mask, int height, int width)
    {
        if (mask.Length != (long)height * width)
            throw new ArgumentException($"mask has {mask.Length} values, expected {height}x{width}", nameof(mask));
        var runs = new List<uint>();
        byte prev = 0; uint run = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0; y < height; y++)
            {
                byte v = mask[y * width + x] != 0 ? (byte)1 : (byte)0;
                if (v != prev) { runs.Add(run); run = 0; prev = v; }
                run++;
            }
        runs.Add(run);
        return new Rle(height, width, runs);
    }

    /// <summary>The mask as row-major H×W bytes (0 or 1).</summary>
    public byte[] Decode()
    {
        var m = new byte[(long)Height * Width];
        long p = 0;
        byte v = 0;
        foreach (var c in counts)
        {
            for (uint k = 0; k < c; k++, p++) if (v != 0) m[(p % Height) * Width + p / Height] = 1;
            v ^= 1;
        }
        return m;
    }

    /// <summary>Foreground pixel count (sum of the odd runs).</summary>
    public long Area()
    {
        long a = 0;
        for (int j = 1; j < counts.Length; j += 2) a += counts[j];
        return a;
    }

    /// <summary>
    /// Bounding box (x, y, w, h) in whole pixels, as pycocotools' <c>rleToBbox</c>: (0, 0, 0, 0) for an empty mask; a
    /// foreground run that continues into the next column spans the full column height.
    /// </summary>
    public double[] ToBbox()
    {
        int m = counts.Length / 2 * 2;
        if (m == 0) return [0, 0, 0, 0];
        uint h = (uint)Height, w = (uint)Width;
        uint xs = w, ys = h, xe = 0, ye = 0, xp = 0, cc = 0;
        for (int j = 0; j < m; j++)
        {
            cc += counts[j];
            uint t = cc - (uint)(j % 2), y = t % h, x = (t - y) / h;
            if (j % 2 == 0) xp = x;
            else if (xp < x) { ys = 0; ye = h - 1; }
            xs = Math.Min(xs, x); xe = Math.Max(xe, x); ys = Math.Min(ys, y); ye = Math.Max(ye, y);
        }
        return [xs, ys, xe - xs + 1, ye - ys + 1];
    }

    /// <summary>Union (or intersection) of masks of one size.</summary>
    public static Rle Merge(IReadOnlyList<Rle> masks, bool intersect = false)
    {
        if (masks.Count == 0) return new Rle(0, 0, []);
        int h = masks[0].Height, w = masks[0].Width;
        foreach (var r in masks)
            if (r.Height != h || r.Width != w)
                throw new ArgumentException($"cannot merge masks of different sizes ({h}x{w} and {r.Height}x{r.Width})", nameof(masks));
        var acc = masks[0].Decode();
        for (int i = 1; i < masks.Count; i++)
        {
            var d = masks[i].Decode();
            for (int p = 0; p < acc.Length; p++) acc[p] = (byte)(intersect ? acc[p] & d[p] : acc[p] | d[p]);
        }
        return Encode(acc, h, w);
    }

    /// <summary>
    /// IoU of a detection mask with a ground-truth mask, as pycocotools' <c>rleIou</c>: intersection / union, or
    /// intersection / area(detection) when the ground truth is a crowd region; 0 when they do not intersect.
    /// </summary>
    public static double Iou(Rle detection, Rle groundTruth, bool crowd)
    {
        if (detection.Height != groundTruth.Height || detection.Width != groundTruth.Width)
            throw new ArgumentException($"mask sizes differ: detection {detection.Height}x{detection.Width}, ground truth {groundTruth.Height}x{groundTruth.Width}");
        var a = detection.counts; var b = groundTruth.counts;
        if (a.Length == 0 || b.Length == 0) return 0;
        // Walk both run lists together (each step advances to the next run boundary of either mask).
        long inter = 0, union = 0;
        int ia = 0, ib = 0;
        long ca = a[0], cb = b[0];
        bool va = false, vb = false;
        while (true)
        {
            while (ca == 0 && ia + 1 < a.Length) { ca = a[++ia]; va = !va; }
            while (cb == 0 && ib + 1 < b.Length) { cb = b[++ib]; vb = !vb; }
            if (ca == 0 || cb == 0) break;
            long c = Math.Min(ca, cb);
            if (va || vb) { union += c; if (va && vb) inter += c; }
            ca -= c; cb -= c;
        }
        if (inter == 0) return 0;
        return (double)inter / (crowd ? detection.Area() : union);
    }

    /// <summary>The compressed string form of COCO JSON (LEB128-like, 6 bits per char, ASCII 48–111, counts after the
    /// second stored as differences to the count two before).</summary>
    public string ToCompressedString()
    {
        var s = new StringBuilder();
        for (int i = 0; i < counts.Length; i++)
        {
            long x = counts[i];
            if (i > 2) x -= counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                s.Append((char)(c + 48));
            }
        }
        return s.ToString();
    }

    /// <summary>Parses the compressed string form (see <see cref="ToCompressedString"/>).</summary>
    public static Rle FromCompressedString(string s, int height, int width)
    {
        var cnts = new List<uint>();
        int p = 0;
        while (p < s.Length)
        {
            long x = 0; int k = 0; bool more = true;
            while (more)
            {
                if (p >= s.Length) throw new FormatException($"RLE string ends inside a count at character {p}");
                int c = s[p] - 48;
                if (c < 0 || c > 63) throw new FormatException($"RLE string has an invalid character '{s[p]}' at {p} (expected ASCII 48–111)");
                if (k > 12) throw new FormatException($"RLE string has an over-long count ending at character {p}");
                x |= (long)(c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++; k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (cnts.Count > 2) x += cnts[^2];
            if (x < 0 || x > uint.MaxValue) throw new FormatException($"RLE string decodes to an invalid run length {x}");
            cnts.Add((uint)x);
        }
        return new Rle(height, width, cnts);
    }

    /// <summary>A mask from polygon vertices (x0, y0, x1, y1, …), see <see cref="PolygonRasterizer"/>.</summary>
    public static Rle FromPolygon(IReadOnlyList<double> xy, int height, int width) => PolygonRasterizer.Rasterize(xy, height, width);

    /// <summary>A mask from a box (x, y, w, h), rasterised as its four-corner polygon (pycocotools' <c>rleFrBbox</c>).</summary>
    public static Rle FromBox(double x, double y, double w, double h, int height, int width) =>
        PolygonRasterizer.Rasterize([x, y, x, y + h, x + w, y + h, x + w, y], height, width);
}
