using VisionSsm.Data;

namespace VisionSsm.Tests.Data;

static class TransformTestImages
{
    /// <summary>A (c, h, w) image of pseudo-random values in [0, 1] (fixed seed).</summary>
    public static ImageSample Random(int c, int h, int w, int seed = 1, int label = 0)
    {
        var r = new System.Random(seed);
        var px = new float[c * h * w];
        for (int i = 0; i < px.Length; i++) px[i] = (float)r.NextDouble();
        return new ImageSample(px, c, h, w, label);
    }

    /// <summary>pixel (c, y, x) = f(c, y, x).</summary>
    public static ImageSample Of(int c, int h, int w, Func<int, int, int, float> f)
    {
        var px = new float[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) px[(ch * h + y) * w + x] = f(ch, y, x);
        return new ImageSample(px, c, h, w, 0);
    }

    public static float At(ImageSample s, int c, int y, int x) => s.Pixels[(c * s.Height + y) * s.Width + x];
}
