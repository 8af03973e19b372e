using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Ops;

/// <summary>
/// RoIAlign (He et al., Mask R-CNN §3) with the semantics of torchvision's <c>ops/roi_align</c> and mmcv's
/// <c>ops/roi_align</c>: every output bin averages <c>gh·gw</c> bilinear samples placed at the centres of a regular
/// sub-grid of the bin (docs/detection.md §2).
/// <list type="bullet">
/// <item>rois are (R, 5) rows <c>(batch_index, x1, y1, x2, y2)</c> in image pixels; <c>spatialScale</c> maps them to the
/// feature map (1/stride).</item>
/// <item><c>aligned = true</c> shifts the box by −0.5 after scaling so that pixel centres sit at integer + 0.5
/// (mmdetection's setting); <c>aligned = false</c> is the original op, with box sides clamped to at least 1.</item>
/// <item><c>samplingRatio = 0</c> is adaptive: <c>gh = ceil(roi_h / pooled_h)</c>, <c>gw = ceil(roi_w / pooled_w)</c>.</item>
/// <item>A sample with y &lt; −1, y &gt; H, x &lt; −1 or x &gt; W contributes 0; inside that band coordinates are clamped
/// to the map (torchvision's <c>bilinear_interpolate</c>).</item>
/// <item>Like both references, no gradient flows into the boxes; the output is differentiable in the features.</item>
/// </list>
/// Bilinear weights are separable (w(y, x) = a(y)·b(x), zero when either coordinate is out of range), so each bin is
/// a weighted sum of at most <c>Ky·Kx</c> distinct pixels. The fast form computes those pixels and weights per roi on
/// the CPU side (cheap: O(R·P·g) numbers), then gathers channels-last rows with <c>index_select</c> and reduces with
/// one <c>bmm</c>; autograd gives the backward (the transpose gather, <c>index_add</c>). <see cref="Reference"/> is the
/// per-sample loop twin.
/// </summary>
public static class RoiAlign
{
    /// <summary>Upper bound on gathered elements per chunk of rois (bounds the temporary to ~64 MB in float32).</summary>
    const long ChunkElements = 16L << 20;

    /// <summary>
    /// RoIAlign of <paramref name="features"/> (B, C, H, W) over <paramref name="rois"/> (R, 5); returns
    /// (R, C, <paramref name="outputHeight"/>, <paramref name="outputWidth"/>) in the features' dtype.
    /// </summary>
    /// <remarks>On the CPU in float32/float64 this runs the C# kernel (<see cref="RoiAlignCpu"/>) unless
    /// <c>KernelOptions.RoiAlignKernel</c> is off; otherwise the gather form (<see cref="ApplyGather"/>).</remarks>
    public static Tensor Apply(Tensor features, Tensor rois, int outputHeight, int outputWidth, double spatialScale,
        int samplingRatio = 0, bool aligned = true)
    {
        if (!RoiAlignCpu.Applies(features)) return ApplyGather(features, rois, outputHeight, outputWidth, spatialScale, samplingRatio, aligned);
        var boxes = Validate(features, rois, outputHeight, outputWidth, spatialScale, samplingRatio);
        var (yAxis, xAxis) = Axes(boxes, features.shape[2], features.shape[3], outputHeight, outputWidth, spatialScale, samplingRatio, aligned);
        var batch = Enumerable.Range(0, boxes.Length / 5).Select(i => (long)boxes[5 * i]).ToArray();
        return RoiAlignCpu.Apply(features, new RoiAlignCpu.Plan(batch, yAxis, xAxis, outputHeight, outputWidth));
    }

    static (AxisWeights[] Y, AxisWeights[] X) Axes(double[] boxes, long h, long w, int outputHeight, int outputWidth,
        double spatialScale, int samplingRatio, bool aligned)
    {
        int r = boxes.Length / 5;
        var yAxis = new AxisWeights[r];
        var xAxis = new AxisWeights[r];
        for (int i = 0; i < r; i++)
        {
            var g = Geometry.Of(boxes, i, outputHeight, outputWidth, spatialScale, samplingRatio, aligned);
            yAxis[i] = AxisWeights.Build(g.StartY, g.BinHeight, g.GridH, outputHeight, (int)h);
            xAxis[i] = AxisWeights.Build(g.StartX, g.BinWidth, g.GridW, outputWidth, (int)w);
        }
        return (yAxis, xAxis);
    }

    /// <summary>
    /// The gather form in libtorch ops (any device): <c>index_select</c> of channels-last pixel rows, one <c>bmm</c>
    /// per chunk of rois; autograd gives the backward.
    /// </summary>
    public static Tensor ApplyGather(Tensor features, Tensor rois, int outputHeight, int outputWidth, double spatialScale,
        int samplingRatio = 0, bool aligned = true)
    {
        var boxes = Validate(features, rois, outputHeight, outputWidth, spatialScale, samplingRatio);
        long b = features.shape[0], c = features.shape[1], h = features.shape[2], w = features.shape[3];
        int r = boxes.Length / 5;
        // No rois: an empty output that is still part of the graph (its gradient is zero), as torchvision's op gives.
        if (r == 0) return features.reshape(-1).narrow(0, 0, 0).reshape(0, c, outputHeight, outputWidth);

        using var scope = NewDisposeScope();
        // (B·H·W, C): one row per pixel, so each bin gathers whole channel vectors.
        var rows = features.permute(0, 2, 3, 1).reshape(b * h * w, c);
        var (yAxis, xAxis) = Axes(boxes, h, w, outputHeight, outputWidth, spatialScale, samplingRatio, aligned);

        var pieces = new List<Tensor>();
        int bins = outputHeight * outputWidth;
        for (int start = 0; start < r;)
        {
            // Grow the chunk while the gathered temporary (rois · bins · Ky · Kx · C) stays under the bound.
            int end = start, ky = 1, kx = 1;
            while (end < r)
            {
                int nky = Math.Max(ky, yAxis[end].Width), nkx = Math.Max(kx, xAxis[end].Width);
                if (end > start && (long)(end - start + 1) * bins * nky * nkx * c > ChunkElements) break;
                ky = nky; kx = nkx; end++;
            }
            pieces.Add(GatherChunk(rows, boxes, yAxis, xAxis, start, end, ky, kx, outputHeight, outputWidth, h, w, features.dtype));
            start = end;
        }
        var flat = pieces.Count == 1 ? pieces[0] : cat(pieces, 0);
        return flat.view(r, outputHeight, outputWidth, c).permute(0, 3, 1, 2).contiguous().MoveToOuterDisposeScope();
    }

    static Tensor GatherChunk(Tensor rows, double[] boxes, AxisWeights[] yAxis, AxisWeights[] xAxis, int start, int end,
        int ky, int kx, int ph, int pw, long h, long w, ScalarType dtype)
    {
        int n = (end - start) * ph * pw, k = ky * kx;
        var index = new long[(long)n * k];
        var weight = new double[(long)n * k];
        int o = 0;
        for (int i = start; i < end; i++)
        {
            long batchOffset = (long)boxes[5 * i] * h * w;
            var ya = yAxis[i]; var xa = xAxis[i];
            for (int py = 0; py < ph; py++)
                for (int px = 0; px < pw; px++, o++)
                {
                    long basePos = (long)o * k;
                    for (int a = 0; a < ya.Width; a++)
                    {
                        double wy = ya.Weight[py * ya.Width + a];
                        if (wy == 0) continue;
                        long row = ya.Index[py * ya.Width + a];
                        for (int bx = 0; bx < xa.Width; bx++)
                        {
                            double wx = xa.Weight[px * xa.Width + bx];
                            if (wx == 0) continue;
                            long p = basePos + a * kx + bx;
                            index[p] = batchOffset + row * w + xa.Index[px * xa.Width + bx];
                            weight[p] = wy * wx;
                        }
                    }
                }
        }
        var idx = tensor(index, device: rows.device);
        var wts = tensor(weight, device: rows.device).to(dtype).view(n, 1, k);
        var gathered = rows.index_select(0, idx).view(n, k, rows.shape[1]);
        return bmm(wts, gathered).view(n, rows.shape[1]);
    }

    /// <summary>
    /// The twin: the per-sample loops of the definition, one bilinear evaluation per sample point, in double
    /// precision. No autograd; use it to check <see cref="Apply"/>.
    /// </summary>
    public static Tensor Reference(Tensor features, Tensor rois, int outputHeight, int outputWidth, double spatialScale,
        int samplingRatio = 0, bool aligned = true)
    {
        var boxes = Validate(features, rois, outputHeight, outputWidth, spatialScale, samplingRatio);
        int b = (int)features.shape[0], c = (int)features.shape[1], h = (int)features.shape[2], w = (int)features.shape[3];
        int r = boxes.Length / 5;
        var x = HostArrays.Doubles(features);
        var y = new double[(long)r * c * outputHeight * outputWidth];
        for (int i = 0; i < r; i++)
        {
            var g = Geometry.Of(boxes, i, outputHeight, outputWidth, spatialScale, samplingRatio, aligned);
            int bi = (int)boxes[5 * i];
            double count = Math.Max(g.GridH * g.GridW, 1);
            for (int ch = 0; ch < c; ch++)
            {
                long plane = ((long)bi * c + ch) * h * w;
                for (int py = 0; py < outputHeight; py++)
                    for (int px = 0; px < outputWidth; px++)
                    {
                        double sum = 0;
                        for (int iy = 0; iy < g.GridH; iy++)
                        {
                            double sy = g.StartY + py * g.BinHeight + (iy + 0.5) * g.BinHeight / g.GridH;
                            for (int ix = 0; ix < g.GridW; ix++)
                            {
                                double sx = g.StartX + px * g.BinWidth + (ix + 0.5) * g.BinWidth / g.GridW;
                                sum += Bilinear(x, plane, h, w, sy, sx);
                            }
                        }
                        y[(((long)i * c + ch) * outputHeight + py) * outputWidth + px] = sum / count;
                    }
            }
        }
        return tensor(y, new long[] { r, c, outputHeight, outputWidth }).to(features.dtype).to(features.device);
    }

    /// <summary>torchvision's <c>bilinear_interpolate</c>: 0 outside [−1, H]×[−1, W], clamped to the map inside it.</summary>
    static double Bilinear(double[] x, long plane, int h, int w, double y, double xq)
    {
        if (y < -1.0 || y > h || xq < -1.0 || xq > w) return 0;
        if (y <= 0) y = 0;
        if (xq <= 0) xq = 0;
        int yLow = (int)y, xLow = (int)xq, yHigh, xHigh;
        if (yLow >= h - 1) { yHigh = yLow = h - 1; y = yLow; } else yHigh = yLow + 1;
        if (xLow >= w - 1) { xHigh = xLow = w - 1; xq = xLow; } else xHigh = xLow + 1;
        double ly = y - yLow, lx = xq - xLow, hy = 1 - ly, hx = 1 - lx;
        return hy * hx * x[plane + (long)yLow * w + xLow] + hy * lx * x[plane + (long)yLow * w + xHigh]
             + ly * hx * x[plane + (long)yHigh * w + xLow] + ly * lx * x[plane + (long)yHigh * w + xHigh];
    }

    /// <summary>Checks the arguments and returns the rois as a flat double array (R·5).</summary>
    static double[] Validate(Tensor features, Tensor rois, int outputHeight, int outputWidth, double spatialScale, int samplingRatio)
    {
        if (features.dim() != 4)
            throw new ArgumentException($"features must be (B, C, H, W), got shape [{string.Join(", ", features.shape)}]", nameof(features));
        if (!features.is_floating_point())
            throw new ArgumentException($"features must be floating point, got {features.dtype}", nameof(features));
        if (features.shape[2] < 1 || features.shape[3] < 1)
            throw new ArgumentException($"features must have H, W >= 1, got {features.shape[2]}x{features.shape[3]}", nameof(features));
        if (rois.dim() != 2 || rois.shape[1] != 5)
            throw new ArgumentException($"rois must be (R, 5) rows (batch_index, x1, y1, x2, y2), got shape [{string.Join(", ", rois.shape)}]", nameof(rois));
        if (outputHeight < 1 || outputWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(outputHeight), $"output size must be >= 1, got {outputHeight}x{outputWidth}");
        if (!(spatialScale > 0) || double.IsInfinity(spatialScale))
            throw new ArgumentOutOfRangeException(nameof(spatialScale), $"spatialScale must be a positive finite number, got {spatialScale}");
        if (samplingRatio < 0)
            throw new ArgumentOutOfRangeException(nameof(samplingRatio), $"samplingRatio must be >= 0 (0 = adaptive), got {samplingRatio}");
        var boxes = HostArrays.Doubles(rois);
        long batch = features.shape[0];
        for (int i = 0; i < boxes.Length / 5; i++)
        {
            for (int j = 0; j < 5; j++)
                if (!double.IsFinite(boxes[5 * i + j]))
                    throw new ArgumentException($"rois[{i}] has a non-finite value ({boxes[5 * i + j]})", nameof(rois));
            double bi = boxes[5 * i];
            if (bi != Math.Floor(bi) || bi < 0 || bi >= batch)
                throw new ArgumentException($"rois[{i}] batch index {bi} is not an integer in [0, {batch})", nameof(rois));
        }
        return boxes;
    }

    /// <summary>Per-roi geometry on the feature map, as both references compute it.</summary>
    readonly record struct Geometry(double StartX, double StartY, double BinWidth, double BinHeight, int GridW, int GridH)
    {
        public static Geometry Of(double[] boxes, int i, int ph, int pw, double scale, int samplingRatio, bool aligned)
        {
            double offset = aligned ? 0.5 : 0.0;
            double x1 = boxes[5 * i + 1] * scale - offset, y1 = boxes[5 * i + 2] * scale - offset;
            double x2 = boxes[5 * i + 3] * scale - offset, y2 = boxes[5 * i + 4] * scale - offset;
            double rw = x2 - x1, rh = y2 - y1;
            if (!aligned) { rw = Math.Max(rw, 1.0); rh = Math.Max(rh, 1.0); }
            double bh = rh / ph, bw = rw / pw;
            // Adaptive grid: ceil(roi / pooled); a non-positive extent gives an empty grid (output 0).
            int gh = samplingRatio > 0 ? samplingRatio : Math.Max(0, (int)Math.Ceiling(rh / ph));
            int gw = samplingRatio > 0 ? samplingRatio : Math.Max(0, (int)Math.Ceiling(rw / pw));
            return new Geometry(x1, y1, bw, bh, gw, gh);
        }
    }

    /// <summary>
    /// One axis of one roi: for each output bin p, up to <see cref="Width"/> (pixel index, weight) pairs whose weights
    /// are the bin's averaged 1-D bilinear weights (sum over the g samples, divided by g).
    /// </summary>
    internal sealed class AxisWeights
    {
        public int Width;
        public long[] Index = [];
        public double[] Weight = [];

        public static AxisWeights Build(double start, double bin, int grid, int pooled, int length)
        {
            var perBin = new List<(long Index, double Weight)>[pooled];
            int width = 0;
            for (int p = 0; p < pooled; p++)
            {
                var acc = new SortedDictionary<long, double>();
                for (int s = 0; s < grid; s++)
                {
                    double q = start + p * bin + (s + 0.5) * bin / grid;
                    if (q < -1.0 || q > length) continue;
                    if (q <= 0) q = 0;
                    int lo = (int)q, hi;
                    if (lo >= length - 1) { hi = lo = length - 1; q = lo; } else hi = lo + 1;
                    double l = q - lo;
                    Add(acc, lo, (1 - l) / grid);
                    Add(acc, hi, l / grid);
                }
                perBin[p] = acc.Select(kv => (kv.Key, kv.Value)).ToList();
                width = Math.Max(width, perBin[p].Count);
            }
            var a = new AxisWeights { Width = width, Index = new long[pooled * width], Weight = new double[pooled * width] };
            for (int p = 0; p < pooled; p++)
                for (int j = 0; j < perBin[p].Count; j++)
                {
                    a.Index[p * width + j] = perBin[p][j].Index;
                    a.Weight[p * width + j] = perBin[p][j].Weight;
                }
            return a;
        }

        static void Add(SortedDictionary<long, double> acc, long index, double weight)
        {
            acc.TryGetValue(index, out double v);
            acc[index] = v + weight;
        }
    }
}
