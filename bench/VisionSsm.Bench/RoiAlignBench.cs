using System.Diagnostics;
using VisionSsm.Detection.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `roi-align`: the multi-level RoIAlign of Mask R-CNN at training shapes: 2 images of 800×1216 (padded), FPN levels
/// of 256 channels at strides 4–32, 512 sampled rois per image for the 7×7 box branch and 128 positives per image for
/// the 14×14 mask branch; forward and forward+backward, float32: the C# kernel and the gather form interleaved, and the
/// per-sample reference twin (forward only, single-threaded).
/// Options: --threads N (default 2), --runs N (default 5).
/// </summary>
public static class RoiAlignBench
{
    public static void RegisterSuite() =>
        Suites.Register("roi-align", "multi-level RoIAlign at Mask R-CNN training shapes (gather form vs per-sample twin)", Run);

    static int Run(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int runs = Math.Max(3, Measure.IntOption(args, "--runs", 5));
        TorchRuntime.SetThreads(threads);
        int[] strides = [4, 8, 16, 32];
        var levels = strides.Select(s => randn(2, 256, 800 / s, 1216 / s)).ToArray();
        Console.WriteLine($"## RoIAlign — {threads} thread(s), float32, mean wall ms of {runs} interleaved runs after a warm-up");
        Console.WriteLine();
        Console.WriteLine("| branch | rois | forward: kernel | forward: gather form | fwd+bwd: kernel | fwd+bwd: gather form | reference twin (forward) |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (name, size, perImage) in new[] { ("box 7x7", 7, 512), ("mask 14x14", 14, 128) })
        {
            var rois = RandomRois(perImage, 800, 1216, seed: size);
            var op = new MultiLevelRoiAlign(size, strides);
            double fwd = 0, both = 0, fwdG = 0, bothG = 0;
            var gather = KernelOptions.Default with { RoiAlignKernel = false };
            // Kernel and gather form interleaved run by run, so load on the shared machine hits both alike.
            for (int rep = 0; rep < runs; rep++)
            {
                fwd += Measure.MedianMs(() => { using var _ = no_grad(); op.Apply(levels, rois); }, rep == 0 ? 1 : 0, 1) / runs;
                using (KernelOptions.Use(gather))
                    fwdG += Measure.MedianMs(() => { using var _ = no_grad(); op.Apply(levels, rois); }, rep == 0 ? 1 : 0, 1) / runs;
                both += Measure.MedianMs(() => Backward(op, levels, rois), rep == 0 ? 1 : 0, 1) / runs;
                using (KernelOptions.Use(gather))
                    bothG += Measure.MedianMs(() => Backward(op, levels, rois), rep == 0 ? 1 : 0, 1) / runs;
            }
            var lv = MultiLevelRoiAlign.MapLevels(rois, 4).data<long>().ToArray();
            var sw = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
                for (int l = 0; l < 4; l++)
                {
                    var idx = Enumerable.Range(0, lv.Length).Where(i => lv[i] == l).Select(i => (long)i).ToArray();
                    if (idx.Length > 0) RoiAlign.Reference(levels[l], rois.index_select(0, tensor(idx)), size, size, 1.0 / strides[l]);
                }
            Console.WriteLine($"| {name} | {rois.shape[0]} | {fwd:F0} | {fwdG:F0} | {both:F0} | {bothG:F0} | {sw.Elapsed.TotalMilliseconds:F0} |");
        }
        return 0;
    }

    static void Backward(MultiLevelRoiAlign op, Tensor[] levels, Tensor rois)
    {
        var leaves = levels.Select(l => l.detach().requires_grad_(true)).ToArray();
        op.Apply(leaves, rois).sum().backward();
    }

    /// <summary>Boxes with sides log-uniform in 8–800 px, centres uniform in the image, split over 2 images.</summary>
    static Tensor RandomRois(int perImage, int h, int w, int seed)
    {
        var rng = new Random(seed);
        var v = new List<float>();
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < perImage; i++)
            {
                double bw = Math.Exp(rng.NextDouble() * Math.Log(100)) * 8, bh = Math.Exp(rng.NextDouble() * Math.Log(100)) * 8;
                double cx = rng.NextDouble() * w, cy = rng.NextDouble() * h;
                v.AddRange([b, (float)Math.Max(0, cx - bw / 2), (float)Math.Max(0, cy - bh / 2), (float)Math.Min(w, cx + bw / 2), (float)Math.Min(h, cy + bh / 2)]);
            }
        return tensor(v.ToArray(), new long[] { 2 * perImage, 5 });
    }
}
