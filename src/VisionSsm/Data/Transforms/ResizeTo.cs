namespace VisionSsm.Data.Transforms;

/// <summary>Resizes to exactly <c>size × size</c> (no-op when the image already has that size).</summary>
public sealed class ResizeTo(int size, Interpolation interpolation = Interpolation.Bilinear) : ISampleTransform
{
    public int Size { get; } = size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "expected a positive size.");
    public Interpolation Interpolation { get; } = interpolation;

    public ImageSample Apply(ImageSample s, Random rng) =>
        s.Height == Size && s.Width == Size ? s
            : s with { Pixels = ResizeCenterCrop.Clamp01(Resampler.Resize(s.Pixels, s.Channels, s.Height, s.Width, Size, Size, Interpolation)), Height = Size, Width = Size };

    public override string ToString() => $"ResizeTo({Size}, {Interpolation})";
}
