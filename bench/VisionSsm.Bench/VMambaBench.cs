using System.Diagnostics;
using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// VMamba speed (BENCHMARKS.md "VMamba"): inference throughput of a variant at 224² (batch 1 and 8), 384², 512², peak RSS, a
/// training step (fwd + bwd, batch 8, 224²) and a per-layer-type breakdown timed at the real stage shapes.
/// <c>dotnet run -c Release --project bench/VisionSsm.Bench -- vmamba [--model vmamba_tiny_s1l8] [--threads 2] [--reps 5] [--skip-large] [--skip-train]</c>
/// </summary>
public static class VMambaBench
{
    public static void RegisterSuite() =>
        Suites.Register("vmamba", "VMamba inference/training throughput and per-layer-type breakdown", Run);

    static int Run(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int reps = Measure.IntOption(args, "--reps", 5);
        int mi = Array.IndexOf(args, "--model");
        string name = mi >= 0 && mi + 1 < args.Length ? args[mi + 1] : "vmamba_tiny_s1l8";
        TorchRuntime.SetThreads(threads);
        Measure.UseCpuTime = args.Contains("--cpu-time");
        bool malloc = !args.Contains("--no-malloc-tuning") && MallocTuning.KeepLargeBlocksInHeap();
        Console.WriteLine($"## vmamba — {name}, {threads} threads, float32, median of {reps} after warm-up, {(Measure.UseCpuTime ? "process CPU time" : "wall time")}, malloc tuning {(malloc ? "on" : "off")}; {DateTime.UtcNow:u}");
        Console.WriteLine($"scan kernel: {(SelectiveScanCpu.Supports(ProbeArgs()) ? "SIMD (SelectiveScanCpu)" : "reference (kernel not available)")}");
        Console.WriteLine();

        if (args.Contains("--breakdown-only"))
        {
            var m = (VMamba)ModelZoo.Create(name);
            m.eval();
            Breakdown(m, Measure.IntOption(args, "--batch", 8), Measure.IntOption(args, "--size", 224), reps);
            return 0;
        }
        if (args.Contains("--linear"))
        {
            int lb = Measure.IntOption(args, "--batch", 8);
            // 1×1 projection variants at the MLP's fc1 shapes: GEMM on the NHWC view vs conv2d 1×1.
            Console.WriteLine("| shape | linear on NHWC view | conv 1×1 channels-last | conv 1×1 NCHW | GELU |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var (c, s) in new[] { (96, 56), (192, 28), (384, 14), (768, 7) })
            {
                var x = ChannelsLast.To(randn(lb, c, s, s));
                var xn = x.contiguous();
                var w = randn(4 * c, c) * 0.02;
                var bias = zeros(4 * c);
                var w4 = w.view(4 * c, c, 1, 1);
                var hidden = randn(lb, 4 * c, s, s);
                double a = Measure.MedianMs(() => nn.functional.linear(x.permute(0, 2, 3, 1), w, bias), 2, reps);
                double b = Measure.MedianMs(() => nn.functional.conv2d(x, w4, bias), 2, reps);
                double cc = Measure.MedianMs(() => nn.functional.conv2d(xn, w4, bias), 2, reps);
                double g = Measure.MedianMs(() => nn.functional.gelu(hidden), 2, reps);
                Console.WriteLine($"| ({lb}, {c}→{4 * c}, {s}²) | {a:F2} | {b:F2} | {cc:F2} | {g:F2} |");
            }
            return 0;
        }
        if (args.Contains("--xproj"))
        {
            // SS2D step 4 at VMamba-T (s1l8) stage shapes, batch 8: broadcast matmuls vs grouped conv1d (upstream v05).
            Console.WriteLine("| shape (B, K, Di, L) | matmul x_proj + dt | conv1d groups=4 x_proj + dt |");
            Console.WriteLine("|---|---|---|");
            foreach (var (c, s) in new[] { (96, 56), (192, 28), (384, 14), (768, 7) })
            {
                long r = (c + 15) / 16, l = s * s;
                var seq = randn(8, 4, c, l);
                var xpw = randn(4, r + 2, c);
                var dtw = randn(4, c, r);
                double a = Measure.MedianMs(() => matmul(dtw, matmul(xpw, seq).narrow(2, 0, r)), 2, reps);
                double b = Measure.MedianMs(() =>
                {
                    var xd = nn.functional.conv1d(seq.view(8, 4 * c, l), xpw.view(4 * (r + 2), c, 1), groups: 4).view(8, 4, r + 2, l);
                    nn.functional.conv1d(xd.narrow(2, 0, r).reshape(8, 4 * r, l), dtw.view(4 * c, r, 1), groups: 4);
                }, 2, reps);
                Console.WriteLine($"| (8, 4, {c}, {l}) | {a:F2} | {b:F2} |");
            }
            return 0;
        }
        if (args.Contains("--cross-scan"))
        {
            // Cross-scan and cross-merge at VMamba-T stage shapes (batch 8), channels-last input as in SS2D.
            Console.WriteLine("| shape (B, C, H, W) | scan ms | merge ms | MB written by the scan |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var (c, s) in new[] { (96, 56), (192, 28), (384, 14), (768, 7) })
            {
                var x = ChannelsLast.To(randn(8, c, s, s));
                var ys = randn(8, 4, c, s * s);
                double a = Measure.MedianMs(() => CrossScan.Scan(x), 2, reps);
                double m = Measure.MedianMs(() => CrossScan.Merge(ys, s, s), 2, reps);
                Console.WriteLine($"| (8, {c}, {s}, {s}) | {a:F2} | {m:F2} | {ys.numel() * 4 / 1e6:F0} |");
            }
            return 0;
        }
        if (args.Contains("--small")) return SmallImages(name == "vmamba_tiny_s1l8" ? "vmamba_nano" : name, reps);
        var model = (VMamba)ModelZoo.Create(name);
        model.eval();
        Console.WriteLine("| mode | input | batch | ms / batch | img/s | peak RSS MiB |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var sizes = new List<(int size, int batch)> { (224, 1), (224, 8) };
        if (!args.Contains("--skip-large")) { sizes.Add((384, 1)); sizes.Add((512, 1)); }
        foreach (var (size, batch) in sizes)
        {
            var x = randn(batch, 3, size, size);
            double ms = Measure.MedianMs(() => { using var _ = no_grad(); model.call(x); }, warmup: 2, reps: reps);
            Console.WriteLine($"| inference | {size}² | {batch} | {ms:F1} | {batch * 1000 / ms:F2} | {Measure.PeakRssMiB():F0} |");
            x.Dispose();
        }
        if (!args.Contains("--skip-train"))
        {
            model.train();
            var x = randn(8, 3, 224, 224);
            var y = randint(0, 1000, [8]);
            double ms = Measure.MedianMs(() =>
            {
                model.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(x), y);
                loss.backward();
            }, warmup: 1, reps: Math.Max(3, reps / 2));
            Console.WriteLine($"| train step (fwd+bwd) | 224² | 8 | {ms:F1} | {8 * 1000 / ms:F2} | {Measure.PeakRssMiB():F0} |");
            model.eval();
        }
        Console.WriteLine();
        Breakdown(model, 8, 224, reps);
        return 0;
    }

    /// <summary>Training-step throughput of a small-image variant on 1×28×28 (Fashion-MNIST shape), batch 128.</summary>
    static int SmallImages(string name, int reps)
    {
        var model = ModelZoo.Create(name, new ModelOptions(NumClasses: 10, InChannels: 1, ImageSize: 28));
        var x = randn(128, 1, 28, 28);
        var y = randint(0, 10, [128]);
        var opt = optim.AdamW(model.parameters(), 1e-3);
        model.train();
        var cpu = Process.GetCurrentProcess();
        var before = cpu.TotalProcessorTime;
        double ms = Measure.MedianMs(() =>
        {
            opt.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            opt.step();
        }, warmup: 2, reps: reps);
        cpu.Refresh();
        double cpuMs = (cpu.TotalProcessorTime - before).TotalMilliseconds / (reps + 2);
        long parameters = model.parameters().Sum(p => p.numel());
        double mflops = Analysis.FlopCounter.Count(model, [1, 1, 28, 28], Models.FlopConvention.Fvcore).Total / 1e6;
        Console.WriteLine($"| {name} | {parameters / 1e6:F2} M params | {mflops:F1} MFLOPs (fvcore) at 1×28² | train step batch 128, 1×28² | {ms:F0} ms ({(Measure.UseCpuTime ? "CPU" : "wall")}) | {cpuMs:F0} ms process CPU (all threads) | {128 * 1000 / ms:F0} img/s | epoch of 60k ≈ {60000 / 128.0 * ms / 1000 / 60:F1} min |");
        return 0;
    }

    static ScanArguments ProbeArgs()
    {
        var u = zeros(1, 4, 8);
        return ScanArguments.Validate(u, u, -ones(4, 1), zeros(1, 4, 1, 8), zeros(1, 4, 1, 8), ones(4), null, zeros(4), true);
    }

    /// <summary>
    /// Per-layer-type time of one inference forward, timing each op type at every stage's real shape and
    /// multiplying by its count; "other" is the full forward minus their sum (residual adds, drop-path, glue).
    /// </summary>
    static void Breakdown(VMamba model, int batch, int size, int reps)
    {
        using var noGrad = no_grad();
        var cfg = model.Config;
        var times = new Dictionary<string, double>();
        void Add(string key, double ms) => times[key] = times.GetValueOrDefault(key) + ms;
        double Time(Action a) => Measure.MedianMs(a, warmup: 1, reps: reps);
        var children = model.named_children().ToDictionary(kv => kv.name, kv => kv.module);
        var layers = children["layers"].named_children().Select(kv => (VMambaStage)kv.module).ToArray();

        var input = ChannelsLast.To(randn(batch, 3, size, size));
        var xs = ((nn.Module<Tensor, Tensor>)children["patch_embed"]).call(input);
        Add("stem + downsample convs, LN", Time(() => ((nn.Module<Tensor, Tensor>)children["patch_embed"]).call(input)));
        for (int i = 0; i < cfg.Dims.Length; i++)
        {
            int c = cfg.Dims[i];
            var ssm = cfg.Ssm(c);
            long di = ssm.DInner, h = xs.shape[2], w = xs.shape[3], l = h * w, k = 4, r = ssm.Rank, n = ssm.DState;
            int depth = cfg.Depths[i];
            var x = ChannelsLast.To(randn(batch, c, h, w));
            var u = ChannelsLast.To(randn(batch, di, h, w));
            var ln = new LayerNorm2d(c);
            var lnDi = new LayerNorm2d(di);
            var inProj = new Linear2d(c, di, false);
            var outProj = new Linear2d(di, c, false);
            var dw = nn.Conv2d(di, di, 3, padding: 1, groups: di, bias: false);
            var mlp = new Mlp2d(c, (long)(c * cfg.MlpRatio));
            var xpw = randn(k, r + 2 * n, di);
            var dtw = randn(k, di, r);
            var seq = randn(batch, k, di, l);
            var dt = randn(batch, k * di, l) - 4;
            var bc = randn(batch, k, n, l);
            var a = -ones(k * di, n);
            var dd = ones(k * di);
            var bias = zeros(k * di);
            Add("LayerNorm2d (norm, norm2, out_norm)", depth * (2 * Time(() => ln.call(x)) + Time(() => lnDi.call(u))));
            Add("1×1 in_proj + out_proj", depth * (Time(() => inProj.call(x)) + Time(() => outProj.call(u))));
            Add("depthwise 3×3 conv + SiLU", depth * Time(() => nn.functional.silu(dw.call(u))));
            Add("cross-scan + cross-merge", depth * (Time(() => CrossScan.Scan(u)) + Time(() => CrossScan.Merge(seq, h, w))));
            Add("x_proj + dt_projs", depth * Time(() => ChannelMajorProjection.Apply(dtw, ChannelMajorProjection.Apply(xpw, seq).narrow(2, 0, r))));
            Add("selective scan", depth * Time(() => SelectiveScan.Apply(seq.view(batch, k * di, l), dt, a, bc, bc, dd, null, bias, true)));
            Add("MLP (fc1, GELU, fc2)", depth * Time(() => mlp.call(x)));
            if (i + 1 < cfg.Dims.Length)
            {
                var down = layers[i].named_children().First(kv => kv.name == "downsample").module as nn.Module<Tensor, Tensor>;
                Add("stem + downsample convs, LN", Time(() => down!.call(x)));
                xs = down!.call(x);
            }
        }
        var last = ChannelsLast.To(randn(batch, cfg.Dims[^1], xs.shape[2], xs.shape[3]));
        Add("head", Time(() => ((nn.Module<Tensor, Tensor>)children["classifier"]).call(last)));
        var full = ChannelsLast.To(randn(batch, 3, size, size));
        double total = Time(() => model.call(full));
        double sum = times.Values.Sum();
        Console.WriteLine($"Per-layer-type breakdown, inference, batch {batch}, {size}² (total forward {total:F0} ms):");
        Console.WriteLine();
        Console.WriteLine("| layer type | ms | share |");
        Console.WriteLine("|---|---|---|");
        foreach (var (key, ms) in times.OrderByDescending(kv => kv.Value))
            Console.WriteLine($"| {key} | {ms:F1} | {100 * ms / total:F0}% |");
        Console.WriteLine($"| other (residual adds, glue) | {total - sum:F1} | {100 * (total - sum) / total:F0}% |");
    }
}
