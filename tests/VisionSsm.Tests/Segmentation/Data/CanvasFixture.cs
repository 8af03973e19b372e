using VisionSsm.Data;

namespace VisionSsm.Tests.Segmentation.Data;

/// <summary>
/// A tiny Fashion-MNIST look-alike on disk (idx files): image k of a split is black except a filled rectangle of one
/// value; train values lie in [0.30, 0.55], test values in [0.65, 0.90], so a canvas pixel tells which split drew it.
/// </summary>
static class CanvasFixture
{
    public const int TrainCount = 40, TestCount = 30;

    public static string Write(string dir)
    {
        foreach (bool train in new[] { true, false })
        {
            int n = train ? TrainCount : TestCount;
            var images = new byte[n * 28 * 28];
            var labels = new byte[n];
            var rng = new Random(train ? 11 : 12);
            for (int k = 0; k < n; k++)
            {
                labels[k] = (byte)(k % 10);
                byte v = (byte)((train ? 77 : 166) + rng.Next(64));
                int x0 = rng.Next(0, 10), y0 = rng.Next(0, 10), x1 = rng.Next(14, 28), y1 = rng.Next(14, 28);
                for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) images[k * 784 + y * 28 + x] = v;
            }
            string p = train ? "train" : "t10k";
            IdxFile.Write(Path.Combine(dir, $"{p}-images-idx3-ubyte"), [n, 28, 28], images, false);
            IdxFile.Write(Path.Combine(dir, $"{p}-labels-idx1-ubyte"), [n], labels, false);
        }
        return dir;
    }

    /// <summary>Raw bytes of image <paramref name="k"/> of a split, read with the idx reader.</summary>
    public static byte[] Raw(string dir, bool train, int k)
    {
        var (_, data) = IdxFile.Read(Path.Combine(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"));
        return data.AsSpan(k * 784, 784).ToArray();
    }
}
