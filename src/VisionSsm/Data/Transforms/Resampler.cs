namespace VisionSsm.Data.Transforms;

/// <summary>
/// Separable resize of a CHW float image region, matching PIL's <c>Image.resize(size, filter, box)</c>: each output
/// pixel centre maps to <c>box0 + (i + 0.5)·scale</c>, and when downscaling the filter support widens by the scale
/// (antialiasing), so a 512→224 resize averages like PIL instead of aliasing. Bicubic uses a = −0.5 (PIL).
/// Values are not clamped between passes; the result is clamped to [0, 1] only by callers that need it.
/// </summary>
public static class Resampler
{
    /// <summary>Resizes the region (x0, y0, w, h) of <paramref name="src"/> (C, H, W) to (C, outH, outW).</summary>
    public static float[] Resize(ReadOnlySpan<float> src, int channels, int height, int width,
        double x0, double y0, double w, double h, int outH, int outW, Interpolation interpolation)
    {
        if (outH <= 0 || outW <= 0) throw new ArgumentException($"output size {outH}×{outW} must be positive.");
        if (w <= 0 || h <= 0) throw new ArgumentException($"crop box {w}×{h} must be positive.");
        var (xIdx, xW, xTaps) = Weights(x0, w, width, outW, interpolation);
        var (yIdx, yW, yTaps) = Weights(y0, h, height, outH, interpolation);
        // Only the source rows the vertical pass reads need the horizontal pass (a crop box touches a band of rows).
        int rowLo = yIdx.Min(), rowHi = yIdx.Max();
        var tmp = new float[height * outW];
        var dst = new float[channels * outH * outW];
        for (int c = 0; c < channels; c++)
        {
            var plane = src.Slice(c * height * width, height * width);
            for (int r = rowLo; r <= rowHi; r++)
            {
                var row = plane.Slice(r * width, width);
                for (int j = 0; j < outW; j++)
                {
                    float acc = 0;
                    int b = j * xTaps;
                    for (int t = 0; t < xTaps; t++) acc += xW[b + t] * row[xIdx[b + t]];
                    tmp[r * outW + j] = acc;
                }
            }
            var outPlane = dst.AsSpan(c * outH * outW, outH * outW);
            for (int i = 0; i < outH; i++)
            {
                int b = i * yTaps;
                var orow = outPlane.Slice(i * outW, outW);
                orow.Clear();
                for (int t = 0; t < yTaps; t++)
                {
                    float wt = yW[b + t];
                    if (wt == 0) continue;
                    var trow = tmp.AsSpan(yIdx[b + t] * outW, outW);
                    for (int j = 0; j < outW; j++) orow[j] += wt * trow[j];
                }
            }
        }
        return dst;
    }

    /// <summary>Resizes a whole image.</summary>
    public static float[] Resize(ReadOnlySpan<float> src, int channels, int height, int width, int outH, int outW, Interpolation interpolation) =>
        Resize(src, channels, height, width, 0, 0, width, height, outH, outW, interpolation);

    static double Support(Interpolation m) => m switch { Interpolation.Nearest => 0.5, Interpolation.Bilinear => 1.0, _ => 2.0 };

    static double Filter(Interpolation m, double x)
    {
        x = Math.Abs(x);
        switch (m)
        {
            case Interpolation.Nearest: return x <= 0.5 ? 1 : 0;
            case Interpolation.Bilinear: return x < 1 ? 1 - x : 0;
            default:
                const double a = -0.5; // PIL's bicubic
                if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
                if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
                return 0;
        }
    }

    /// <summary>Per output index: the source indices and normalised weights (fixed tap count; outside taps weigh 0).</summary>
    static (int[] Idx, float[] W, int Taps) Weights(double start, double length, int inSize, int outSize, Interpolation m)
    {
        double scale = length / outSize;
        if (m == Interpolation.Nearest)
        {
            // PIL nearest: the source pixel containing the output centre.
            var idxN = new int[outSize];
            var wN = new float[outSize];
            for (int i = 0; i < outSize; i++)
            {
                idxN[i] = Math.Clamp((int)Math.Floor(start + (i + 0.5) * scale), 0, inSize - 1);
                wN[i] = 1;
            }
            return (idxN, wN, 1);
        }
        double fscale = Math.Max(scale, 1.0);
        double support = Support(m) * fscale;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var idx = new int[outSize * taps];
        var w = new float[outSize * taps];
        var tmp = new double[taps];
        for (int i = 0; i < outSize; i++)
        {
            double center = start + (i + 0.5) * scale;
            int lo = (int)Math.Floor(center - support);
            double total = 0;
            for (int t = 0; t < taps; t++)
            {
                int s = lo + t;
                // PIL keeps only taps inside the image and renormalises over them.
                double v = s < 0 || s >= inSize ? 0 : Filter(m, (s + 0.5 - center) / fscale);
                tmp[t] = v;
                total += v;
            }
            for (int t = 0; t < taps; t++)
            {
                idx[i * taps + t] = Math.Clamp(lo + t, 0, inSize - 1);
                w[i * taps + t] = total == 0 ? 0 : (float)(tmp[t] / total);
            }
        }
        return (idx, w, taps);
    }
}
