namespace VisionSsm.Data.Transforms;

/// <summary>
/// torchvision/timm RandomResizedCrop: up to 10 tries of area fraction ~ U(scale) and log-aspect ~ U(log ratio);
/// the first box that fits is taken at a uniform position; otherwise the fallback is a center crop with the aspect
/// clamped to the ratio range. The box is resized to <c>size × size</c> (antialiased, PIL semantics).
/// </summary>
public sealed class RandomResizedCrop : ISampleTransform
{
    public RandomResizedCrop(int size, double scaleMin = 0.08, double scaleMax = 1.0, double ratioMin = 3.0 / 4.0,
        double ratioMax = 4.0 / 3.0, Interpolation interpolation = Interpolation.Bicubic)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "expected a positive size.");
        if (!(scaleMin > 0 && scaleMin <= scaleMax && scaleMax <= 1))
            throw new ArgumentException($"scale ({scaleMin}, {scaleMax}) must satisfy 0 < min ≤ max ≤ 1.", nameof(scaleMin));
        if (!(ratioMin > 0 && ratioMin <= ratioMax))
            throw new ArgumentException($"ratio ({ratioMin}, {ratioMax}) must satisfy 0 < min ≤ max.", nameof(ratioMin));
        Size = size;
        ScaleMin = scaleMin; ScaleMax = scaleMax; RatioMin = ratioMin; RatioMax = ratioMax;
        Interpolation = interpolation;
    }

    public int Size { get; }
    public double ScaleMin { get; }
    public double ScaleMax { get; }
    public double RatioMin { get; }
    public double RatioMax { get; }
    public Interpolation Interpolation { get; }

    public ImageSample Apply(ImageSample s, Random rng)
    {
        var (top, left, h, w) = SampleBox(s.Height, s.Width, rng);
        var px = Resampler.Resize(s.Pixels, s.Channels, s.Height, s.Width, left, top, w, h, Size, Size, Interpolation);
        return s with { Pixels = ResizeCenterCrop.Clamp01(px), Height = Size, Width = Size };
    }

    /// <summary>The crop box (top, left, height, width), always inside the image (torchvision get_params).</summary>
    public (int Top, int Left, int Height, int Width) SampleBox(int height, int width, Random rng)
    {
        double area = (double)height * width;
        double logLo = Math.Log(RatioMin), logHi = Math.Log(RatioMax);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (ScaleMin + rng.NextDouble() * (ScaleMax - ScaleMin));
            double aspect = Math.Exp(logLo + rng.NextDouble() * (logHi - logLo));
            int w = (int)Math.Round(Math.Sqrt(target * aspect));
            int h = (int)Math.Round(Math.Sqrt(target / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height)
                return (rng.Next(height - h + 1), rng.Next(width - w + 1), h, w);
        }
        double inRatio = (double)width / height;
        int fw, fh;
        if (inRatio < RatioMin) { fw = width; fh = (int)Math.Round(fw / RatioMin); }
        else if (inRatio > RatioMax) { fh = height; fw = (int)Math.Round(fh * RatioMax); }
        else { fw = width; fh = height; }
        fh = Math.Clamp(fh, 1, height); fw = Math.Clamp(fw, 1, width);
        return ((height - fh) / 2, (width - fw) / 2, fh, fw);
    }

    public override string ToString() => $"RandomResizedCrop({Size}, scale=({ScaleMin}, {ScaleMax}), ratio=({RatioMin:0.###}, {RatioMax:0.###}), {Interpolation})";
}
