namespace VisionSsm.Data.Transforms;

/// <summary>
/// The classic small-image augmentation (CIFAR/MNIST: pad 4 then crop 32/28 at a random offset): zero padding of
/// <see cref="Padding"/> pixels (or edge-reflection), then a random crop of the original size.
/// </summary>
public sealed class PadRandomCrop(int padding, bool reflect = false) : ISampleTransform
{
    public int Padding { get; } = padding >= 0 ? padding : throw new ArgumentOutOfRangeException(nameof(padding), padding, "expected ≥ 0.");
    public bool Reflect { get; } = reflect;

    public ImageSample Apply(ImageSample s, Random rng)
    {
        if (Padding == 0) return s;
        int dx = rng.Next(2 * Padding + 1) - Padding, dy = rng.Next(2 * Padding + 1) - Padding;
        return Shift(s, dx, dy, Reflect);
    }

    /// <summary>out[y, x] = in[y + dy, x + dx], zero (or reflected) outside.</summary>
    internal static ImageSample Shift(ImageSample s, int dx, int dy, bool reflect)
    {
        int h = s.Height, w = s.Width;
        var dst = new float[s.Pixels.Length];
        for (int c = 0; c < s.Channels; c++)
        {
            int p = c * h * w;
            for (int y = 0; y < h; y++)
            {
                int sy = y + dy;
                if (reflect) sy = ReflectIndex(sy, h);
                else if (sy < 0 || sy >= h) continue;
                for (int x = 0; x < w; x++)
                {
                    int sx = x + dx;
                    if (reflect) sx = ReflectIndex(sx, w);
                    else if (sx < 0 || sx >= w) continue;
                    dst[p + y * w + x] = s.Pixels[p + sy * w + sx];
                }
            }
        }
        return s with { Pixels = dst };
    }

    /// <summary>numpy 'reflect' (no edge repeat): −1 → 1, n → n−2.</summary>
    static int ReflectIndex(int i, int n)
    {
        if (n == 1) return 0;
        int period = 2 * (n - 1);
        i = ((i % period) + period) % period;
        return i < n ? i : period - i;
    }

    public override string ToString() => $"PadRandomCrop(pad={Padding}{(Reflect ? ", reflect" : "")})";
}
