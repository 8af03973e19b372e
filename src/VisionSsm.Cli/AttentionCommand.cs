using System.CommandLine;
using System.Globalization;
using VisionSsm.Analysis;
using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Cli;

/// <summary>`vssm attention`: the selective scan's implicit attention maps of one block (Analysis/ScanAttention).</summary>
static class AttentionCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("attention", "Draw the selective scan's implicit attention of one block (VMamba Figs. 4–7): per-route and " +
                                           "combined maps of a query pixel, the diagonal heat map, and the roll-out over the blocks before it.");
        var model = new Option<string>("--model") { Description = "zoo model (VMamba, Vim or vGamba family); random init unless --checkpoint" };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "a vssm .ckpt, or official weights (.pth/.safetensors) with --model" };
        var block = new Option<int>("--block") { Description = "mixer index (SS2D / BiMamba / Gamba cell, in module order; `--block -1` lists them)", DefaultValueFactory = _ => 0 };
        var query = new Option<string>("--query") { Description = "query pixel 'row,col' on the block's grid (default: the centre)" };
        var image = new Option<string>("--image") { Description = "input image file (default: a test image of --data)" };
        var data = new Option<string>("--data") { Description = "data directory for the input image (default: the checkpoint's data, else the embedded Fashion-MNIST)" };
        var index = new Option<int>("--index") { Description = "which test image of --data", DefaultValueFactory = _ => 0 };
        var size = new Option<int?>("--size") { Description = "input side (default: the model's)" };
        var output = new Option<string>("--output", "-o") { Description = "output directory (default: runs/attention-<model>)" };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, checkpoint, block, query, image, data, index, size, output }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            var dev = CommonOptions.Apply(p, threads, device);
            using var loaded = Open(p.GetValue(checkpoint), p.GetValue(model), p.GetValue(size), dev);
            int side = p.GetValue(size) ?? loaded.Preprocessing.ImageSize;
            var mixers = ScanAttention.Mixers(loaded.Net);
            int blockIndex = p.GetValue(block);
            if (blockIndex == -1)
            {
                foreach (var m in mixers) ctx.Out.WriteLine($"{m.Index,4}  {m.Name}  {m.Kind}");
                return 0;
            }
            ScanAttention.CheckBlock(loaded.Net, blockIndex);
            var q = p.GetValue(query) is { } qs ? ParseQuery(qs) : ((int, int)?)null;
            var (sample, source) = InputImage(p.GetValue(image), p.GetValue(data) ?? loaded.Info?.Config.Data, p.GetValue(index));
            var pre = loaded.Preprocessing with { ImageSize = side };
            var s = pre.EvalTransform().Apply(sample, new Random(0));
            var dtype = loaded.Net.parameters().First().dtype;
            using var x = tensor(s.Pixels, [1, s.Channels, s.Height, s.Width]).to(dtype, dev);
            string outDir = p.GetValue(output) ?? Path.Combine("runs", $"attention-{loaded.ModelName}");
            Directory.CreateDirectory(outDir);
            ctx.Out.WriteLine($"{loaded.ModelName}: block {blockIndex} of {mixers.Count} mixers, input {source} at {side}×{side}");
            string last = "";
            using var result = ScanAttention.Compute(loaded.Net, x, blockIndex, q, (f, what) =>
            {
                string line = $"[{f * 100,5:F1}%] {what}";
                if (ctx.Interactive) ctx.Error.Write($"\r{line,-70}");
                else if (what != last) ctx.Error.WriteLine(line);
                last = what;
            });
            if (ctx.Interactive) ctx.Error.WriteLine();
            var files = AttentionFigures.Save(result, s, outDir, $"{loaded.ModelName}");
            var b = result.Block;
            ctx.Out.WriteLine($"block {blockIndex} = {b.Mixer.Name} ({b.Mixer.Kind}) on a {b.Height}×{b.Width} grid, query {result.Query.Row},{result.Query.Col}; " +
                              $"roll-out over blocks {string.Join(", ", result.RolloutMixers.Select(m => m.Index))}; " +
                              $"‖M u‖ / ‖D u‖ = {b.MixingRatio.ToString("G3", CultureInfo.InvariantCulture)}");
            foreach (var f in files) ctx.Out.WriteLine($"wrote {f}");
            return 0;
        }));
        return cmd;
    }

    static InferenceModel Open(string? checkpoint, string? model, int? size, Device dev)
    {
        if (checkpoint is not null) return CheckpointModel.Open(checkpoint, model, false, dev);
        if (model is null) throw new ArgumentException("--model: name a zoo model (or give --checkpoint).", "model");
        var entry = ModelZoo.Get(model);
        int channels = entry.Preprocessing.Mean.Length;
        VisionModel net;
        try { net = ModelZoo.Create(model, new ModelOptions(10, channels, size ?? entry.DefaultImageSize, 0, dev)); }
        catch (Exception e) when (size is not null && e is ArgumentException or InvalidOperationException)
        {
            throw new ArgumentException($"--size {size}: model '{model}' cannot be built for {size}×{size} inputs: {e.Message}", "size", e);
        }
        var classes = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
        return new InferenceModel(net, model, classes, Training.Preprocessing.FromZoo(entry.Preprocessing, channels), null);
    }

    static (int, int) ParseQuery(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int r) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int c))
            return (r, c);
        throw new ArgumentException($"--query '{text}': expected 'row,col', e.g. 7,7.", "query");
    }

    static (ImageSample, string) InputImage(string? image, string? data, int index)
    {
        if (image is not null)
        {
            if (!File.Exists(image)) throw new FileNotFoundException($"--image '{image}' does not exist.", image);
            try { return (ImageDecoder.Decode(image), image); }
            catch (ImageReadException e) { throw new InvalidDataException($"--image: {e.Message}", e); }
        }
        var (_, test) = RunData.OpenSplits(data);
        if (index < 0 || index >= test.Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"--index: expected 0..{test.Count - 1}");
        return (test.Get(index), $"test image {index} of {data ?? "the default data"}");
    }
}
