using SkiaSharp;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Cli;

namespace VisionSsm.Tests.Segmentation;

/// <summary>`vssm segment train|eval|predict` end to end on a tiny images/ + masks/ folder, and its bad-input errors.</summary>
[Collection(SerialTrainingCollection.Name)]
public class SegmentCliTests
{
    /// <summary>
    /// A learnable folder data set: gray <paramref name="size"/>² images with a bright square (class 1) or a dark-on-mid
    /// bar (class 2) on background 0; masks label exactly those pixels. train/ and val/ splits, classes.txt.
    /// </summary>
    public static string WriteFolders(string root, int size = 24, int train = 6, int val = 3, Action<string, int, bool>? tamper = null)
    {
        Directory.CreateDirectory(root);
        File.WriteAllLines(Path.Combine(root, SegmentationFolders.ClassesFile), ["background", "square", "bar"]);
        foreach (var (split, n) in new[] { ("train", train), ("val", val) })
        {
            string images = Path.Combine(root, "images", split), masks = Path.Combine(root, "masks", split);
            Directory.CreateDirectory(images);
            Directory.CreateDirectory(masks);
            for (int i = 0; i < n; i++)
            {
                var mask = new byte[size * size];
                using var bmp = new SKBitmap(size, size, SKColorType.Gray8, SKAlphaType.Opaque);
                int x0 = (i * 5) % (size / 2), y0 = (i * 3) % (size / 2), cls = 1 + i % 2;
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                    {
                        bool inside = cls == 1 ? x >= x0 && x < x0 + size / 3 && y >= y0 && y < y0 + size / 3 : y >= y0 && y < y0 + 3;
                        mask[y * size + x] = inside ? (byte)cls : (byte)0;
                        byte v = inside ? (byte)(cls == 1 ? 230 : 120) : (byte)20;
                        bmp.SetPixel(x, y, new SKColor(v, v, v));
                    }
                string name = $"{split}{i:D2}";
                using (var data = SKImage.FromBitmap(bmp).Encode(SKEncodedImageFormat.Png, 100))
                    File.WriteAllBytes(Path.Combine(images, name + ".png"), data.ToArray());
                LabelPng.Write(Path.Combine(masks, name + ".png"), mask, size, size);
                tamper?.Invoke(Path.Combine(masks, name + ".png"), i, split == "train");
            }
        }
        return root;
    }

    static readonly string[] Tiny = ["--model", "upernet_vmamba_nano", "--crop-size", "24", "--batch-size", "2", "--warmup-iters", "1", "--log-interval", "1"];

    static CliHarness.Outcome Run(params string[] args) => CliHarness.Run([.. args, "--threads", "1"]);

    [Fact]
    public void Train_resume_eval_predict_on_a_folder_data_set()
    {
        string dir = CliHarness.TempDir("seg-cli");
        string data = WriteFolders(Path.Combine(dir, "data"));
        string run = Path.Combine(dir, "run");
        var first = Run(["segment", "train", "--data", data, "--iters", "4", "--eval-interval", "2", "--max-steps", "2", "-o", run, .. Tiny]);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("eval @ 2", first.Out);
        Assert.Contains("stopped after 2 iterations", first.Out);
        foreach (var f in new[] { "config.json", "metrics.csv", "metrics.jsonl", "curves.png", "predictions.png", "last.ckpt", "best.ckpt" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);

        var refused = Run("segment", "train", "--resume", run, "--lr", "0.1");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("--lr cannot change on --resume", refused.Error);

        var resumed = Run("segment", "train", "--resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("eval @ 4", resumed.Out);
        Assert.Contains("mIoU", resumed.Out);
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal(3, rows.Length);   // header + evaluations at 2 and 4
        Assert.StartsWith("4,", rows[2]);

        var eval = Run("segment", "eval", "-c", Path.Combine(run, "last.ckpt"), "--data", data);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains("3 images", eval.Out);
        Assert.Contains("square", eval.Out);
        Assert.Contains("mIoU", eval.Out);

        string image = Path.Combine(data, "images", "val", "val00.png");
        string outDir = Path.Combine(dir, "pred");
        var predict = Run("segment", "predict", image, "-c", Path.Combine(run, "best.ckpt"), "-o", outDir);
        Assert.True(predict.ExitCode == 0, predict.ToString());
        var (labels, h, w) = LabelPng.Read(Path.Combine(outDir, "val00_mask.png"));
        Assert.Equal((24, 24), (h, w));
        Assert.All(labels, l => Assert.InRange(l, 0, 2));
        Assert.True(File.Exists(Path.Combine(outDir, "val00_overlay.png")));
    }

    [Fact]
    public void Bad_inputs_give_clear_errors()
    {
        string dir = CliHarness.TempDir("seg-bad");
        // A mask whose size differs from its image.
        string sized = WriteFolders(Path.Combine(dir, "sized"), tamper: (mask, i, train) =>
        {
            if (train && i == 0) LabelPng.Write(mask, new byte[20 * 24], 20, 24);
        });
        var r = Run(["segment", "train", "--data", sized, "--iters", "1", "-o", Path.Combine(dir, "r1"), .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("expected equal sizes", r.Error);
        // A label outside the declared classes (3 classes: 0..2 and 255).
        string labels = WriteFolders(Path.Combine(dir, "labels"), tamper: (mask, i, train) =>
        {
            if (train && i == 1) LabelPng.Write(mask, Enumerable.Repeat((byte)7, 24 * 24).ToArray(), 24, 24);
        });
        r = Run(["segment", "train", "--data", labels, "--iters", "1", "-o", Path.Combine(dir, "r2"), .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("out of range", r.Error);
        // Empty folders.
        string empty = Path.Combine(dir, "empty");
        Directory.CreateDirectory(Path.Combine(empty, "images"));
        Directory.CreateDirectory(Path.Combine(empty, "masks"));
        File.WriteAllLines(Path.Combine(empty, SegmentationFolders.ClassesFile), ["a", "b"]);
        r = Run(["segment", "train", "--data", empty, "--iters", "1", "-o", Path.Combine(dir, "r3"), .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no image files", r.Error);
        // Unknown model; missing data folder; a classification-style bad option value.
        r = Run("segment", "train", "--model", "upernet_nope", "--iters", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Unknown segmentation model 'upernet_nope'", r.Error);
        r = Run("segment", "train", "--data", Path.Combine(dir, "nope"), "--iters", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Error);
        r = Run("segment", "train", "--iters", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--iters", r.Error);
        r = Run("segment", "eval", "-c", Path.Combine(dir, "missing.ckpt"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Error);
    }

    [Fact]
    public void Models_lists_the_segmentation_registry()
    {
        var r = CliHarness.Run("models", "--task", "segmentation", "--filter", "resnet50");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("upernet_resnet50", r.Out);
        Assert.Contains("| 67 |", r.Out);
        Assert.Contains("953", r.Out);
        var bad = CliHarness.Run("models", "--task", "bogus");
        Assert.Equal(1, bad.ExitCode);
    }
}
