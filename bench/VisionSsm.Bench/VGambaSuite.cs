using System.Globalization;
using VisionSsm.Analysis;
using VisionSsm.Models;
using VisionSsm.Runtime;

namespace VisionSsm.Bench;

/// <summary>
/// Suite <c>vgamba</c>: vGamba-B/L beside ResNet-50/101, DeiT-S and BoT50 in one run (float32 inference, 224²,
/// batch 1 and 8, 2 threads by default). Prints a Markdown table and the issue-5 target:
/// vgamba_b img/s ≥ 0.7 × resnet50 img/s × (4.1 / 4.65).
/// Options: --threads 2 --batches 1,8 --size 224 --warmup 2 --reps 5 --models vgamba_b,vgamba_l,resnet50,... --flops-only
/// </summary>
public static class VGambaSuite
{
    public static void RegisterSuite()
    {
        Suites.Register("vgamba", "vGamba-B/L vs ResNet-50/101, DeiT-S, BoT50: inference img/s", Run);
        Suites.Register("vgamba-profile", "vGamba-B mixer parts (cell, MHSA, fusion) vs the 3×3 conv they replace, batch 1 inference", RunProfile);
        Suites.Register("nano-train", "training img/s of the 28×28 variants (resnet_nano, vgamba_nano, deit_nano), 1 channel", RunNanoTrain);
    }

    static void TableHeader(string settings, params string[] columns)
    {
        Console.WriteLine(settings);
        Console.WriteLine();
        Console.WriteLine("| " + string.Join(" | ", columns) + " |");
        Console.WriteLine("|" + string.Concat(columns.Select(_ => "---|")));
    }

    /// <summary>Median ms of each vGamba-B mixer site's parts at 224 (one block of each kind), beside the 3×3 conv of a plain
    /// ResNet-50 block at the same place. Options: --threads 1 --batch 1 --reps 5</summary>
    static int RunProfile(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 1);
        int batch = Measure.IntOption(args, "--batch", 1);
        int reps = Measure.IntOption(args, "--reps", 5);
        TorchRuntime.SetThreads(threads);
        TableHeader($"threads {threads}, batch {batch}, median of {reps}",
            "site (P, side)", "× in B", "cell ms", "of which scan ms", "MHSA ms", "fusion ms", "Gamba block ms", "ResNet 3×3 conv ms");
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (p, side, count) in new[] { (256, 28, 1), (256, 14, 5), (512, 14, 1), (512, 7, 2) })
        {
            int c = p / 2;
            using var block = new Layers.GambaBlock(p, side);
            using var cell = new Layers.GambaCell(c, side);
            using var mhsa = new Layers.BotMhsa2d(c, side, 4, 1);
            using var fusion = new Layers.GatedFusion(c, p);
            using var conv = Layers.Bottleneck.Conv3x3(p, side == 28 || (p == 512 && side == 14) ? 2 : 1);
            foreach (var m in new TorchSharp.torch.nn.Module[] { block, cell, mhsa, fusion, conv }) m.eval();
            using var x = TorchSharp.torch.randn(batch, p, side, side);
            using var h = TorchSharp.torch.randn(batch, c, side, side);
            double tc = Measure.MedianMs(() => cell.call(h), 1, reps);
            long di = 2L * c, l = (long)side * side;
            using var u = TorchSharp.torch.randn(batch, di, l);
            using var a = -TorchSharp.torch.rand(di, 64);
            using var bc = TorchSharp.torch.randn(batch, 64, l);
            using var dvec = TorchSharp.torch.ones(di);
            double ts = Measure.MedianMs(() => Ops.SelectiveScan.Apply(u, u, a, bc, bc, dvec, u, dvec, deltaSoftplus: true), 1, reps);
            double tm = Measure.MedianMs(() => mhsa.call(h), 1, reps);
            double tf = Measure.MedianMs(() => fusion.call(h, h), 1, reps);
            double tb = Measure.MedianMs(() => block.call(x), 1, reps);
            double tv = Measure.MedianMs(() => conv.call(x), 1, reps);
            Console.WriteLine(FormattableString.Invariant($"| {p}, {side} | {count} | {tc:F1} | {ts:F1} | {tm:F1} | {tf:F1} | {tb:F1} | {tv:F1} |"));
        }
        return 0;
    }

    /// <summary>Training throughput (forward + backward + SGD step) of the small-image variants on 1×28×28 inputs.
    /// Options: --threads 2 --batch 64 --steps 10 --models resnet_nano,vgamba_nano,deit_nano</summary>
    static int RunNanoTrain(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int batch = Measure.IntOption(args, "--batch", 64);
        int steps = Measure.IntOption(args, "--steps", 10);
        TorchRuntime.SetThreads(threads);
        TableHeader($"threads {threads}, batch {batch}, 1×28×28, SGD, median of {steps} steps after 2 warm-up steps",
            "model", "params", "step ms", "img/s", "Fashion-MNIST epoch (60k)");
        foreach (var name in Measure.StringOption(args, "--models", "resnet_nano,vgamba_nano,deit_nano").Split(','))
        {
            using var model = ModelZoo.Create(name, new ModelOptions(10, InChannels: 1, ImageSize: 28));
            model.train();
            using var opt = TorchSharp.torch.optim.SGD(model.parameters(), 0.01, momentum: 0.9);
            using var x = TorchSharp.torch.randn(batch, 1, 28, 28);
            using var y = TorchSharp.torch.randint(0, 10, [batch]);
            var times = new List<double>();
            for (int i = 0; i < steps + 2; i++)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                opt.zero_grad();
                TorchSharp.torch.nn.functional.cross_entropy(model.call(x), y).backward();
                opt.step();
                if (i >= 2) times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double s = times[times.Count / 2];
            Console.WriteLine(FormattableString.Invariant(
                $"| {name} | {model.parameters().Sum(p => p.numel()):N0} | {s * 1000:F0} | {batch / s:F0} | {60000 / (batch / s) / 60:F1} min |"));
        }
        return 0;
    }

    static int Run(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int size = Measure.IntOption(args, "--size", 224);
        int warmup = Measure.IntOption(args, "--warmup", 2);
        int reps = Measure.IntOption(args, "--reps", 5);
        var batches = Measure.StringOption(args, "--batches", "1,8").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        if (args.Contains("--flops-only")) batches = [];
        var names = Measure.StringOption(args, "--models", "vgamba_b,vgamba_l,resnet50,resnet101,deit_small,bot50").Split(',');
        TorchRuntime.SetThreads(threads);

        Console.WriteLine($"threads {threads}, float32 inference, {size}², warm-up {warmup}, median of {reps}");
        Console.WriteLine();
        Console.WriteLine("| model | params (M) | params thop (M) | GMACs thop | GMACs fvcore |" + string.Concat(batches.Select(b => $" batch {b} ms | batch {b} img/s |")));
        Console.WriteLine("|---|---|---|---|---|" + string.Concat(batches.Select(_ => "---|---|")));
        var imgPerSec = new Dictionary<(string, int), double>();
        foreach (var name in names)
        {
            using var model = ModelZoo.Create(name, new ModelOptions(ImageSize: size));
            double pm = model.parameters().Sum(p => p.numel()) / 1e6;
            var thopReport = FlopCounter.Count(model, [1, 3, size, size], FlopConvention.Thop);
            double thop = thopReport.GFlops, thopParams = thopReport.VisibleParameters / 1e6;
            double fv = FlopCounter.Count(model, [1, 3, size, size], FlopConvention.Fvcore).GFlops;
            var cells = new List<string>();
            foreach (int b in batches)
            {
                model.eval();
                using var noGrad = TorchSharp.torch.no_grad();
                using var x = TorchSharp.torch.randn(b, 3, size, size);
                double s = Measure.MedianMs(() => model.call(x), warmup, reps) / 1000;
                imgPerSec[(name, b)] = b / s;
                cells.Add((s * 1000).ToString("F0", CultureInfo.InvariantCulture));
                cells.Add((b / s).ToString("F2", CultureInfo.InvariantCulture));
            }
            Console.WriteLine(FormattableString.Invariant($"| {name} | {pm:F2} | {thopParams:F2} | {thop:F3} | {fv:F3} |{string.Concat(cells.Select(c => $" {c} |"))}"));
        }
        Console.WriteLine();
        foreach (int b in batches)
            if (imgPerSec.TryGetValue(("vgamba_b", b), out var vg) && imgPerSec.TryGetValue(("resnet50", b), out var rn))
            {
                double target = 0.7 * rn * (4.1 / 4.65);
                Console.WriteLine(FormattableString.Invariant(
                    $"batch {b}: vgamba_b {vg:F2} img/s vs target 0.7 × resnet50 {rn:F2} × 4.1/4.65 = {target:F2} img/s → {(vg >= target ? "met" : "NOT met")} (ratio {vg / rn:F3})"));
            }
        return 0;
    }
}
