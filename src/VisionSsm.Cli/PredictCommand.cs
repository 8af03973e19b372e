using System.CommandLine;
using SkiaSharp;
using VisionSsm.Data;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>`vssm predict`: top-k labels with probabilities for image files (timm inference.py).</summary>
static class PredictCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("predict", "Classify image files (JPEG/PNG/…) with a checkpoint; prints the top-k labels with probabilities.");
        var images = new Argument<string[]>("images") { Description = "image files", Arity = ArgumentArity.OneOrMore };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "checkpoint file (it records model, classes and preprocessing)", Required = true };
        var model = new Option<string>("--model") { Description = "zoo model name (default: the one the checkpoint records)" };
        var topK = new Option<int>("--top-k", "-k") { Description = "labels per image", DefaultValueFactory = _ => 5 };
        var useEma = new Option<bool>("--ema") { Description = "use the EMA weights" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        cmd.Arguments.Add(images);
        foreach (var o in new Option[] { checkpoint, model, topK, useEma }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            if (p.GetValue(topK) < 1) throw new ArgumentException($"--top-k {p.GetValue(topK)}: expected ≥ 1.", "top-k");
            var files = p.GetValue(images)!;
            foreach (var f in files)
                if (!File.Exists(f)) throw new FileNotFoundException($"image '{f}' does not exist.", f);
            using var ckpt = Checkpoint.Load(p.GetValue(checkpoint)!);
            using var predictor = new Predictor(ckpt, p.GetValue(model), p.GetValue(useEma), dev);
            int failed = 0;
            foreach (var f in files)
            {
                ImageSample image;
                try { image = Decode(f); }
                catch (ImageReadException e) { ctx.Error.WriteLine($"error: {e.Message}"); failed++; continue; }
                ctx.Out.WriteLine($"{f}:");
                foreach (var pr in predictor.Predict(image, p.GetValue(topK)))
                    ctx.Out.WriteLine($"  {pr.Probability * 100,6:F2}%  {pr.Label} ({pr.ClassIndex})");
            }
            return failed == 0 ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>Decodes an image file with SkiaSharp into RGB floats in [0, 1] (grayscale files stay 1 channel).</summary>
    internal static ImageSample Decode(string path)
    {
        using var codec = SKCodec.Create(path) ?? throw new ImageReadException(path, "not a decodable image (JPEG, PNG, BMP, GIF, WebP)");
        bool gray = codec.Info.ColorType == SKColorType.Gray8;
        using var bitmap = SKBitmap.Decode(codec, codec.Info.WithColorType(SKColorType.Rgba8888).WithAlphaType(SKAlphaType.Unpremul))
                           ?? throw new ImageReadException(path, "could not decode the image data");
        int h = bitmap.Height, w = bitmap.Width, c = gray ? 1 : 3;
        var pixels = new float[c * h * w];
        var bytes = bitmap.GetPixelSpan();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int src = (y * w + x) * 4;
                for (int ch = 0; ch < c; ch++) pixels[ch * h * w + y * w + x] = bytes[src + ch] / 255f;
            }
        return new ImageSample(pixels, c, h, w, -1);
    }
}
