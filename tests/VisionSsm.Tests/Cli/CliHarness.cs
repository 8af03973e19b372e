using VisionSsm.Cli;
using VisionSsm.Data;

namespace VisionSsm.Tests.Cli;

/// <summary>Runs the real `vssm` command tree in-process and writes tiny data sets for it.</summary>
public static class CliHarness
{
    /// <summary>Asserts a clean failure: non-zero exit, each fragment in the error, a message rather than a stack trace.</summary>
    public static void Fails(Outcome r, params string[] fragments)
    {
        Assert.True(r.ExitCode != 0, r.ToString());
        foreach (var f in fragments) Assert.True(r.Error.Contains(f), $"expected '{f}' in:\n{r}");
        Assert.DoesNotContain("   at ", r.Error);
    }

    public sealed record Outcome(int ExitCode, string Out, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
    }

    /// <summary>Runs `vssm args…` with captured output. Always one thread (TestSetup's policy) unless args say otherwise.</summary>
    public static Outcome Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        if (!args.Contains("--threads") && args.Length > 0 && args[0] is "train" or "eval" or "predict" or "models" or "flops" or "bench")
            args = [.. args, "--threads", "1"];
        int code = CliApp.Run(args, new CliContext(o, e, Interactive: false));
        return new Outcome(code, o.ToString(), e.ToString());
    }

    public static string TempDir(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "vssm-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// A learnable MNIST-style idx data set: class k is a bright k-th horizontal band plus noise, size × size pixels,
    /// <paramref name="train"/> and <paramref name="test"/> images (gzip for train, raw for test: both formats).
    /// </summary>
    public static string WriteIdx(string dir, int train = 64, int test = 32, int size = 8, int classes = 4, int seed = 1)
    {
        var rng = new Random(seed);
        void Split(string prefix, int n, bool gzip)
        {
            var images = new byte[n * size * size];
            var labels = new byte[n];
            for (int i = 0; i < n; i++)
            {
                int k = i % classes;
                labels[i] = (byte)k;
                int band = k * size / classes;
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        images[i * size * size + y * size + x] = (byte)((y >= band && y < band + Math.Max(1, size / classes) ? 200 : 20) + rng.Next(40));
            }
            string gz = gzip ? ".gz" : "";
            IdxFile.Write(Path.Combine(dir, $"{prefix}-images-idx3-ubyte{gz}"), [n, size, size], images, gzip);
            IdxFile.Write(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{gz}"), [n], labels, gzip);
        }
        Directory.CreateDirectory(dir);
        Split("train", train, gzip: true);
        Split("t10k", test, gzip: false);
        return dir;
    }

    /// <summary>An image-folder data set (train/ and val/, one folder per class) of small PNGs.</summary>
    public static string WriteImageFolder(string dir, int perClass = 4, int size = 8)
    {
        string[] classes = ["cat", "dog"];
        foreach (var split in new[] { "train", "val" })
            for (int k = 0; k < classes.Length; k++)
            {
                string folder = Path.Combine(dir, split, classes[k]);
                Directory.CreateDirectory(folder);
                for (int i = 0; i < perClass; i++)
                {
                    var px = new float[3 * size * size];
                    for (int j = 0; j < px.Length; j++) px[j] = (j / (size * size) == k ? 0.9f : 0.1f) + 0.01f * i;
                    ImageDecoder.Save(new ImageSample(px, 3, size, size, k), Path.Combine(folder, $"{i}.png"));
                }
            }
        return dir;
    }

    /// <summary>The metrics CSV without the wall-clock columns (epoch_seconds, img_per_s, rss_mb).</summary>
    public static string[] DeterministicMetrics(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, "metrics.csv")).Select(l => string.Join(",", l.Split(',')[..10])).ToArray();
}
