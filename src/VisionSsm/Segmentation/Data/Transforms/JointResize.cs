namespace VisionSsm.Segmentation.Data.Transforms;

/// <summary>
/// The two resamplers of mmseg's Resize (OpenCV through mmcv): images with <c>cv2.INTER_LINEAR</c> (pixel centres
/// aligned — source x = (x' + 0.5)·W/W' − 0.5, clamped to the border — and no antialiasing when shrinking), label
/// maps with <c>cv2.INTER_NEAREST</c> (source x = ⌊x'·W/W'⌋), which never invents a label.
/// </summary>
public static class JointResize
{
    public static float[] Bilinear(ReadOnlySpan<float> chw, int channels, int height, int width, int outH, int outW)
    {
        Check(height, width, outH, outW);
        var (x0, x1, fx) = Taps(width, outW);
        var (y0, y1, fy) = Taps(height, outH);
        var dst = new float[channels * outH * outW];
        for (int c = 0; c < channels; c++)
        {
            var src = chw.Slice(c * height * width, height * width);
            int o = c * outH * outW;
            for (int i = 0; i < outH; i++)
            {
                int r0 = y0[i] * width, r1 = y1[i] * width;
                float wy = fy[i];
                for (int j = 0; j < outW; j++)
                {
                    float top = src[r0 + x0[j]] + fx[j] * (src[r0 + x1[j]] - src[r0 + x0[j]]);
                    float bottom = src[r1 + x0[j]] + fx[j] * (src[r1 + x1[j]] - src[r1 + x0[j]]);
                    dst[o + i * outW + j] = top + wy * (bottom - top);
                }
            }
        }
        return dst;
    }

    public static byte[] Nearest(ReadOnlySpan<byte> mask, int height, int width, int outH, int outW)
    {
        Check(height, width, outH, outW);
        var dst = new byte[outH * outW];
        for (int i = 0; i < outH; i++)
        {
            int sy = Math.Min((int)Math.Floor(i * (double)height / outH), height - 1);
            for (int j = 0; j < outW; j++)
            {
                int sx = Math.Min((int)Math.Floor(j * (double)width / outW), width - 1);
                dst[i * outW + j] = mask[sy * width + sx];
            }
        }
        return dst;
    }

    /// <summary>Resizes image (bilinear) and mask (nearest) of a sample to <paramref name="outH"/>×<paramref name="outW"/>.</summary>
    public static SegmentationSample Resize(SegmentationSample s, int outH, int outW) =>
        outH == s.Height && outW == s.Width ? s :
        new SegmentationSample(Bilinear(s.Pixels, s.Channels, s.Height, s.Width, outH, outW), s.Channels, outH, outW,
            Nearest(s.Mask, s.Height, s.Width, outH, outW));

    static (int[] I0, int[] I1, float[] F) Taps(int inSize, int outSize)
    {
        var i0 = new int[outSize];
        var i1 = new int[outSize];
        var f = new float[outSize];
        double scale = (double)inSize / outSize;
        for (int o = 0; o < outSize; o++)
        {
            double x = Math.Max((o + 0.5) * scale - 0.5, 0);
            int a = Math.Min((int)x, inSize - 1);
            i0[o] = a;
            i1[o] = Math.Min(a + 1, inSize - 1);
            f[o] = (float)(x - a);
        }
        return (i0, i1, f);
    }

    static void Check(int h, int w, int outH, int outW)
    {
        if (h <= 0 || w <= 0) throw new ArgumentException($"input size {h}×{w} must be positive.");
        if (outH <= 0 || outW <= 0) throw new ArgumentException($"output size {outH}×{outW} must be positive.");
    }
}
