namespace VisionSsm.Data.Transforms;

/// <summary>
/// The eval transform of timm/DeiT: resize the shorter side to <c>floor(size / cropPct)</c> (256 for 224 at the
/// default 0.875), keeping the aspect ratio, then take the central <c>size × size</c> crop. With cropPct = 1 it is a
/// plain resize-shorter-side + center crop. Deterministic (ignores the Random).
/// </summary>
public sealed class ResizeCenterCrop : ISampleTransform
{
    public ResizeCenterCrop(int size, double cropPct = 0.875, Interpolation interpolation = Interpolation.Bicubic)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "expected a positive size.");
        if (!(cropPct > 0 && cropPct <= 1)) throw new ArgumentOutOfRangeException(nameof(cropPct), cropPct, "expected 0 < cropPct ≤ 1.");
        Size = size;
        CropPct = cropPct;
        Interpolation = interpolation;
        ScaleSize = (int)Math.Floor(size / cropPct);
    }

    public int Size { get; }
    public double CropPct { get; }
    public Interpolation Interpolation { get; }
    /// <summary>The shorter side after the resize (timm: <c>math.floor(img_size / crop_pct)</c>).</summary>
    public int ScaleSize { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        // torchvision Resize(int): shorter side → ScaleSize, longer side int(ScaleSize · long / short).
        int h, w;
        if (s.Height <= s.Width) { h = ScaleSize; w = (int)((long)ScaleSize * s.Width / s.Height); }
        else { w = ScaleSize; h = (int)((long)ScaleSize * s.Height / s.Width); }
        var resized = h == s.Height && w == s.Width ? s
            : s with { Pixels = Clamp01(Resampler.Resize(s.Pixels, s.Channels, s.Height, s.Width, h, w, Interpolation)), Height = h, Width = w };
        return CenterCrop(resized, Size);
    }

    /// <summary>torchvision CenterCrop: top = round((H − size) / 2), left = round((W − size) / 2); zero-pads when smaller.</summary>
    public static ImageSample CenterCrop(ImageSample s, int size)
    {
        if (s.Height == size && s.Width == size) return s;
        int top = (int)Math.Round((s.Height - size) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((s.Width - size) / 2.0, MidpointRounding.ToEven);
        return Crop(s, top, left, size, size);
    }

    /// <summary>The (h, w) window at (top, left); pixels outside the source are zero.</summary>
    public static ImageSample Crop(ImageSample s, int top, int left, int h, int w)
    {
        var dst = new float[s.Channels * h * w];
        for (int c = 0; c < s.Channels; c++)
            for (int y = 0; y < h; y++)
            {
                int sy = top + y;
                if (sy < 0 || sy >= s.Height) continue;
                for (int x = 0; x < w; x++)
                {
                    int sx = left + x;
                    if (sx < 0 || sx >= s.Width) continue;
                    dst[(c * h + y) * w + x] = s.Pixels[(c * s.Height + sy) * s.Width + sx];
                }
            }
        return s with { Pixels = dst, Height = h, Width = w };
    }

    internal static float[] Clamp01(float[] a)
    {
        for (int i = 0; i < a.Length; i++) a[i] = Math.Clamp(a[i], 0f, 1f);
        return a;
    }

    public override string ToString() => $"ResizeCenterCrop({Size}, crop_pct={CropPct}, {Interpolation})";
}
