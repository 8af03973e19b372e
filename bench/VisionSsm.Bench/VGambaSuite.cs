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
/// --no-serial-rows --unfused-rows --libtorch-gemm-rows
/// </summary>
public static class VGambaSuite
{
    public static void RegisterSuite()
    {
        Suites.Register("vgamba", "vGamba-B/L vs ResNet-50/101, DeiT-S, BoT50: inference img/s", Run);
        Suites.Register("vgamba-profile", "vGamba-B mixer parts (cell, MHSA, fusion) vs the 3×3 conv they replace, batch 1 inference", RunProfile);
        Suites.Register("vgamba-blocks", "per-block inference time of a whole model (vgamba_b, resnet50, ...): stem, every bottleneck and the Gamba parts", RunBlocks);
        Suites.Register("vgamba-mamba", "the Gamba cell's causal Mamba (d_state 64) at each vGamba-B site: module path vs fused path, and the cell's other ops", RunMamba);
        Suites.Register("vgamba-mhsa", "BotMhsa2d attention products at vGamba-B sizes: libtorch matmul vs Gemm.Linear, one thread", RunMhsa);
        Suites.Register("nano-train", "training img/s of the 28×28 variants (resnet_nano, vgamba_nano, deit_nano), 1 channel", RunNanoTrain);
    }

    static void TableHeader(string settings, params string[] columns)
    {
        Console.WriteLine(settings);
        Console.WriteLine();
        Console.WriteLine("| " + string.Join(" | ", columns) + " |");
        Console.WriteLine("|" + string.Concat(columns.Select(_ => "---|")));
    }

    /// <summary>Wall ms (median of round-robin reps) of each vGamba-B mixer site's parts at 224 (one block of each kind),
    /// beside the 3×3 conv of a plain ResNet-50 block at the same place: the block serially (every op on all threads) and
    /// with inter-op branches, and at batch 1 each inter-op branch alone on a worker (Mamba | MHSA + fusion term + mask).
    /// Options: --threads 2 --batch 1 --reps 9</summary>
    static int RunProfile(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int batch = Measure.IntOption(args, "--batch", 1);
        int reps = Measure.IntOption(args, "--reps", 9);
        TorchRuntime.SetThreads(threads);
        TableHeader($"threads {threads}, batch {batch}, wall median of {reps} round-robin reps; {DateTime.UtcNow:u}",
            "site (P, side)", "× in B", "cell ms", "of which scan ms", "MHSA ms", "fusion ms", "Gamba block serial ms",
            "Gamba block inter-op ms", "Mamba branch ms", "MHSA branch ms", "ResNet 3×3 conv ms");
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (p, side, count) in new[] { (256, 28, 1), (256, 14, 5), (512, 14, 1), (512, 7, 2) })
        {
            int c = p / 2;
            using var block = new Layers.GambaBlock(p, side);
            var parts = block.named_children().ToDictionary(m => m.name, m => m.module);
            var cell = (Layers.GambaCell)parts["ggnn"];
            var mhsa = (Layers.BotMhsa2d)parts["mhsa"];
            var fusion = (Layers.GatedFusion)parts["gating"];
            using var conv = Layers.Bottleneck.Conv3x3(p, side == 28 || (p == 512 && side == 14) ? 2 : 1);
            block.eval();
            conv.eval();
            using var x = TorchSharp.torch.randn(batch, p, side, side);
            using var h = TorchSharp.torch.randn(batch, c, side, side);
            using var t = cell.Sequence(h);
            long di = 2L * c, l = (long)side * side;
            using var u = TorchSharp.torch.randn(batch, di, l);
            using var a = -TorchSharp.torch.rand(di, 64);
            using var bc = TorchSharp.torch.randn(batch, 64, l);
            using var dvec = TorchSharp.torch.ones(di);
            using var one = TorchSharp.torch.ones(1);
            bool interOp = KernelOptions.Current.InterOp && threads >= 2;
            var rows = new List<Action>
            {
                () => cell.call(h),
                () => Ops.SelectiveScan.Apply(u, u, a, bc, bc, dvec, u, dvec, deltaSoftplus: true),
                () => mhsa.call(h),
                () => fusion.call(h, h),
                () => block.ForwardSerial(x),
                () => { if (interOp) block.ForwardConcurrent(x); },
                // The branches as GambaBlock.ForwardConcurrent splits them: the context mask goes with the MHSA up to 16×16 tokens.
                () => { if (interOp) InterOpParallel.Run(() => { var m = cell.Mix(t); if (l > 256) cell.Mask(t); return m; }, () => one * 1); },
                () => { if (interOp) InterOpParallel.Run(() => one * 1, () => { var y = fusion.GatedB(mhsa.call(h)); if (l <= 256) cell.Mask(t); return y; }); },
                () => conv.call(x),
            };
            var ms = Measure.RoundRobin(reps, rows.ToArray()).Select(r => r.WallMedian.ToString("F1", CultureInfo.InvariantCulture)).ToArray();
            if (!interOp) ms[5] = ms[6] = ms[7] = "–";
            if (batch > 1) ms[6] = ms[7] = "–";   // at batch ≥ 2 the inter-op path splits the batch, not the branches
            Console.WriteLine($"| {p}, {side} | {count} | {string.Join(" | ", ms)} |");
        }
        return 0;
    }

    /// <summary>The cell's Mamba mixer at each vGamba-B site (c = P/2 channels, side², d_state 64), batch 1 by default: the
    /// module path (<see cref="Layers.Mamba.Mixer"/>) against the fused path (<see cref="Layers.FusedMixerPath"/>), and the
    /// cell's other steps (positional add, context mask, m ⊙ mask + reshape), round-robin on one thread (thread-CPU min).
    /// Options: --threads 1 --batch 1 --rounds 15</summary>
    static int RunMamba(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 1);
        int batch = Measure.IntOption(args, "--batch", 1);
        int rounds = Measure.IntOption(args, "--rounds", 15);
        TorchRuntime.SetThreads(threads);
        TableHeader($"threads {threads}, batch {batch}, {rounds} rounds round-robin, thread-CPU min / wall median ms; {DateTime.UtcNow:u}",
            "site (c, side)", "Mamba module path", "Mamba fused path", "fused / module", "sequence (pos add)", "context mask", "output (⊙ mask, reshape)", "whole cell",
            "fused, token-major in_proj");
        using var noGrad = TorchSharp.torch.no_grad();
        var parts = new List<(int C, int Side, double[] Ms)>();
        foreach (var (c, side) in new[] { (128, 28), (128, 14), (256, 14), (256, 7) })
        {
            using var cell = new Layers.GambaCell(c, side);
            cell.eval();
            var mamba = (Layers.Mamba)cell.named_children().First(m => m.name == "mamba_block").module;
            using var h = TorchSharp.torch.randn(batch, c, side, side);
            using var t = cell.Sequence(h);
            using var m = mamba.call(t);
            using var mask = cell.Mask(t)!;
            var r = Measure.RoundRobin(rounds,
                () => { using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false })) mamba.call(t); },
                () => mamba.call(t),
                () => cell.Sequence(h),
                () => cell.Mask(t),
                () => cell.Output(m, mask),
                () => cell.call(h),
                () => { using (KernelOptions.Use(KernelOptions.Current with { MambaChannelMajorInProjection = false })) mamba.call(t); });
            string F(int i) => FormattableString.Invariant($"{r[i].CpuMin:F2} / {r[i].WallMedian:F2}");
            Console.WriteLine(FormattableString.Invariant($"| {c}, {side} | {F(0)} | {F(1)} | {r[1].CpuMin / r[0].CpuMin:F2} | {F(2)} | {F(3)} | {F(4)} | {F(5)} | {F(6)} |"));
            parts.Add((c, side, FusedParts(mamba, t, rounds)));
        }
        Console.WriteLine();
        TableHeader("fused path's ops one by one, libtorch then Gemm (thread-CPU min ms)", "site (c, side)", "in_proj", "conv+SiLU+layout", "x_proj", "dt_proj", "−exp(A_log)", "scan", "out_proj",
            "in_proj (Gemm)", "out_proj (Gemm, copies yᵀ)", "x_proj (Gemm.MatMul)", "dt_proj (Gemm.MatMul)");
        foreach (var (c, side, ms) in parts)
            Console.WriteLine($"| {c}, {side} | " + string.Join(" | ", ms.Select(v => v.ToString("F2", CultureInfo.InvariantCulture))) + " |");
        return 0;
    }

    /// <summary>The ops of <see cref="Layers.Mamba.ForwardFused"/> one by one (thread-CPU min of round-robin reps).</summary>
    static double[] FusedParts(Layers.Mamba mamba, TorchSharp.torch.Tensor t, int rounds)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var p = mamba.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter);
        int r = mamba.Config.Rank, n = mamba.Config.DState;
        var xz = TorchSharp.torch.nn.functional.linear(t, p["in_proj.weight"]);
        var (u, z) = Ops.BiCausalConv.Prepare(xz, p["conv1d.weight"], p["conv1d.bias"]);
        var dbl = TorchSharp.torch.matmul(p["x_proj.weight"], u);
        var dt = TorchSharp.torch.matmul(p["dt_proj.weight"], dbl.narrow(1, 0, r));
        var a = -TorchSharp.torch.exp(p["A_log"]);
        var y = Ops.SelectiveScan.Apply(u, dt, a, dbl.narrow(1, r, n), dbl.narrow(1, r + n, n), p["D"], z, p["dt_proj.bias"], deltaSoftplus: true);
        var res = Measure.RoundRobin(rounds,
            () => TorchSharp.torch.nn.functional.linear(t, p["in_proj.weight"]).Dispose(),
            () => { var (uu, zz) = Ops.BiCausalConv.Prepare(xz, p["conv1d.weight"], p["conv1d.bias"]); uu.Dispose(); zz.Dispose(); },
            () => TorchSharp.torch.matmul(p["x_proj.weight"], u).Dispose(),
            () => TorchSharp.torch.matmul(p["dt_proj.weight"], dbl.narrow(1, 0, r)).Dispose(),
            () => (-TorchSharp.torch.exp(p["A_log"])).Dispose(),
            () => Ops.SelectiveScan.Apply(u, dt, a, dbl.narrow(1, r, n), dbl.narrow(1, r + n, n), p["D"], z, p["dt_proj.bias"], deltaSoftplus: true).Dispose(),
            () => TorchSharp.torch.nn.functional.linear(y.transpose(1, 2), p["out_proj.weight"]).Dispose(),
            () => Ops.Gemm.Linear(t, p["in_proj.weight"]).Dispose(),
            () => Ops.Gemm.Linear(y.transpose(1, 2), p["out_proj.weight"]).Dispose(),
            () => Ops.Gemm.MatMul(p["x_proj.weight"], u).Dispose(),
            () => Ops.Gemm.MatMul(p["dt_proj.weight"], dbl.narrow(1, 0, r)).Dispose());
        return res.Select(x => x.CpuMin).ToArray();
    }

    /// <summary>One (image, head) of the MHSA's row-blocked attention at each site: energy (n × 2d)·(2d × Np) as upstream
    /// or (n × d)·(d × Np) with the position logits factorised, softmax (with the position rows added), and
    /// v (d × Np)·attnᵀ, with libtorch's ops and with <see cref="Ops.Gemm"/> / <see cref="Ops.RowSoftmax"/> (copies included).
    /// Options: --rounds 15</summary>
    static int RunMhsa(string[] args)
    {
        int rounds = Measure.IntOption(args, "--rounds", 15);
        TorchRuntime.SetThreads(1);
        TableHeader($"threads 1, thread-CPU min ms of {rounds} round-robin rounds; {DateTime.UtcNow:u}",
            "Np, d, rows", "energy matmul (2d)", "energy Gemm (2d)", "energy Gemm (d)", "softmax", "v·attnᵀ matmul", "v·attnᵀ Gemm",
            "RowSoftmax (incl. a clone)", "RowSoftmax + positions (incl. a clone)", "the clone");
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (np, d, rows) in new[] { (784L, 32L, 392L), (196L, 32L, 196L), (196L, 64L, 196L), (49L, 64L, 49L) })
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            var left = TorchSharp.torch.randn(2 * d, np);
            var right = TorchSharp.torch.randn(2 * d, np);
            var v = TorchSharp.torch.randn(d, np);
            var lt = left.transpose(0, 1);
            int side = (int)Math.Round(Math.Sqrt(np));
            var pos = TorchSharp.torch.randn(2 * side, np);
            var attn = TorchSharp.torch.nn.functional.softmax(TorchSharp.torch.matmul(lt.narrow(0, 0, rows), right), -1);
            var res = Measure.RoundRobin(rounds,
                () => TorchSharp.torch.matmul(lt.narrow(0, 0, rows), right).Dispose(),
                () => { using var a = lt.narrow(0, 0, rows).contiguous(); Ops.Gemm.MatMul(a, right).Dispose(); },
                () => { using var a = lt.narrow(0, 0, rows).narrow(1, 0, d).contiguous(); using var k = right.narrow(0, 0, d); Ops.Gemm.MatMul(a, k).Dispose(); },
                () => TorchSharp.torch.nn.functional.softmax(attn, -1).Dispose(),
                () => TorchSharp.torch.matmul(v, attn.transpose(0, 1)).Dispose(),
                () => Ops.Gemm.Linear(v, attn).Dispose(),
                () => { using var e = attn.clone(); Ops.RowSoftmax.ApplyInPlace(e); },
                () => { using var e = attn.clone(); Ops.RowSoftmax.ApplyInPlace(e, pos, side); },
                () => attn.clone().Dispose());
            Console.WriteLine($"| {np}, {d}, {rows} | " + string.Join(" | ", res.Select(x => x.CpuMin.ToString("F3", CultureInfo.InvariantCulture))) + " |");
        }
        Console.WriteLine();
        TableHeader("the whole MHSA branch's ops at batch 1, one thread (thread-CPU min ms)", "c, side", "MHSA", "MHSA, twin (upstream's [q; r]ᵀ[k; q], libtorch products)", "MHSA, 1×1 convs on libtorch",
            "GatedB", "GatedB, 1×1 conv on libtorch", "Q conv", "r + 2 cats", "energy bmm", "softmax",
            "AV bmm", "proj_b conv", "gate (ChannelGate)", "context mask");
        foreach (var (c, side) in new[] { (128, 28), (128, 14), (256, 14), (256, 7) })
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var block = new Layers.GambaBlock(2 * c, side);
            var parts = block.named_children().ToDictionary(m => m.name, m => m.module);
            var mhsa = (Layers.BotMhsa2d)parts["mhsa"];
            var cell = (Layers.GambaCell)parts["ggnn"];
            var p = mhsa.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter);
            var g = ((Layers.GatedFusion)parts["gating"]).named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter);
            long np = (long)side * side, d = c / 4;
            var x = TorchSharp.torch.randn(1, c, side, side);
            var t = cell.Sequence(x);
            var q = TorchSharp.torch.nn.functional.conv2d(x, p["Q.weight"], p["Q.bias"]).view(1, 4, d, np);
            var left = TorchSharp.torch.cat([q, q], 2);
            var e = TorchSharp.torch.matmul(left.transpose(-2, -1), left);
            var attn = TorchSharp.torch.nn.functional.softmax(e, -1);
            var pb = TorchSharp.torch.nn.functional.conv2d(x, g["proj_b.weight"], g["proj_b.bias"]);
            var fusion = (Layers.GatedFusion)parts["gating"];
            var res = Measure.RoundRobin(rounds,
                () => mhsa.call(x),
                () => { using (KernelOptions.Use(KernelOptions.Current with { MhsaFactorisedPositions = false })) mhsa.call(x); },
                () => { using (KernelOptions.Use(KernelOptions.Current with { Gemm = false })) mhsa.call(x); },
                () => fusion.GatedB(x),
                () => { using (KernelOptions.Use(KernelOptions.Current with { Gemm = false })) fusion.GatedB(x); },
                () => TorchSharp.torch.nn.functional.conv2d(x, p["Q.weight"], p["Q.bias"]).Dispose(),
                () => { using var s2 = TorchSharp.torch.NewDisposeScope(); var r = (p["rel_h"] + p["rel_w"]).view(1, 4, d, np).expand(1, -1, -1, -1); TorchSharp.torch.cat([q, r], 2); TorchSharp.torch.cat([q, q], 2); },
                () => TorchSharp.torch.matmul(left.transpose(-2, -1), left).Dispose(),
                () => { using var e2 = e.clone(); Ops.RowSoftmax.ApplyInPlace(e2); },
                () => TorchSharp.torch.matmul(q, attn.transpose(-2, -1)).Dispose(),
                () => TorchSharp.torch.nn.functional.conv2d(x, g["proj_b.weight"], g["proj_b.bias"]).Dispose(),
                () => Ops.ChannelGate.Apply(pb, g["gate.weight"], g["gate.bias"]).Dispose(),
                () => cell.Mask(t)!.Dispose());
            Console.WriteLine($"| {c}, {side} | " + string.Join(" | ", res.Select(x => x.CpuMin.ToString("F3", CultureInfo.InvariantCulture))) + " |");
        }
        return 0;
    }

    /// <summary>Per-block breakdown of whole-model inference: the stem, every bottleneck, and inside each Gamba bottleneck its
    /// cell, MHSA and fusion; all timed round-robin (thread-CPU min is the figure to trust under load with 1 thread).
    /// Options: --models vgamba_b,resnet50 --threads 1 --batch 1 --rounds 5</summary>
    static int RunBlocks(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 1);
        int batch = Measure.IntOption(args, "--batch", 1);
        int rounds = Measure.IntOption(args, "--rounds", 5);
        TorchRuntime.SetThreads(threads);
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var name in Measure.StringOption(args, "--models", "vgamba_b,resnet50").Split(','))
        {
            using var model = ModelZoo.Create(name, new ModelOptions());
            model.eval();
            var x = TorchSharp.torch.randn(batch, 3, 224, 224);
            var rows = new List<(string Name, Action Run)> { ("whole model", () => model.call(x)) };
            var children = model.named_children().ToDictionary(c => c.name, c => c.module);
            var stem = children.Where(c => c.Key is "conv1" or "bn1" or "maxpool").Select(c => (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)c.Value).ToArray();
            TorchSharp.torch.Tensor Stem(TorchSharp.torch.Tensor t)
            {
                t = TorchSharp.torch.nn.functional.relu(stem[1].call(stem[0].call(t)));
                return stem.Length > 2 ? stem[2].call(t) : t;
            }
            rows.Add(("stem", () => Stem(x)));
            var y = Stem(x);
            for (int s = 1; s <= 4; s++)
                foreach (var (bi, block) in children[$"layer{s}"].named_children())
                {
                    var input = y;
                    var b = (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)block;
                    rows.Add(($"layer{s}.{bi} {Ops.ScanArguments.Fmt(input.shape)}", () => b.call(input)));
                    var parts = block.named_children().ToDictionary(c => c.name, c => c.module);
                    if (parts["conv2"].named_children().FirstOrDefault().module is Layers.GambaBlock gb)
                    {
                        var conv1 = (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)parts["conv1"];
                        var bn1 = (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)parts["bn1"];
                        var h = TorchSharp.torch.nn.functional.relu(bn1.call(conv1.call(input)));
                        var mods = gb.named_children().ToDictionary(c => c.name, c => c.module);
                        var halves = h.chunk(2, 1).Select(t => t.contiguous()).ToArray();
                        rows.Add(("  conv1+bn1+relu", () => TorchSharp.torch.nn.functional.relu(bn1.call(conv1.call(input)))));
                        rows.Add(("  Gamba block (mixer)", () => gb.call(h)));
                        if (mods.TryGetValue("ggnn", out var cell))
                            rows.Add(("    cell", () => ((Layers.GambaCell)cell).call(halves[0])));
                        if (mods.TryGetValue("mhsa", out var mhsa))
                            rows.Add(("    MHSA", () => ((Layers.BotMhsa2d)mhsa).call(halves[1])));
                        if (mods.TryGetValue("gating", out var gating))
                            rows.Add(("    fusion", () => ((Layers.GatedFusion)gating).call(halves[0], halves[1])));
                    }
                    y = b.call(input);
                }
            var t = Measure.RoundRobin(rounds, rows.Select(r => r.Run).ToArray());
            TableHeader($"{name}, threads {threads}, batch {batch}, {rounds} rounds round-robin", "part", "thread-CPU min ms", "wall median ms", "wall min ms");
            for (int i = 0; i < rows.Count; i++)
                Console.WriteLine(FormattableString.Invariant($"| {rows[i].Name} | {t[i].CpuMin:F1} | {t[i].WallMedian:F1} | {t[i].WallMin:F1} |"));
            Console.WriteLine();
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
        // vGamba rows run twice: with the default inter-op branches (InterOpParallel) and with every op on all threads.
        bool serialRows = !args.Contains("--no-serial-rows");
        // --unfused-rows: vGamba again with the cell's Mamba on its module path (fusedmamba=off), for A/B.
        bool unfusedRows = args.Contains("--unfused-rows");
        // --libtorch-gemm-rows: vGamba again with Ops.Gemm off (gemm=off: every product on libtorch / MKL), for A/B.
        bool libtorchGemmRows = args.Contains("--libtorch-gemm-rows");
        TorchRuntime.SetThreads(threads);

        Console.WriteLine($"threads {threads}, float32 inference, {size}², warm-up {warmup}, median of {reps}; models interleaved " +
            $"rep by rep; {DateTime.UtcNow:u}; inter-op branches {(KernelOptions.Current.InterOp ? "on" : "off")} (\"serial\" rows: off); " +
            $"fused Mamba {(KernelOptions.Current.FusedMamba ? "on" : "off")} (\"module Mamba\" rows: off)");
        Console.WriteLine();
        Console.WriteLine("| model | params (M) | params thop (M) | GMACs thop | GMACs fvcore |" + string.Concat(batches.Select(b => $" batch {b} ms | batch {b} img/s |")));
        Console.WriteLine("|---|---|---|---|---|" + string.Concat(batches.Select(_ => "---|---|")));
        var models = names.Select(n => (Name: n, Model: ModelZoo.Create(n, new ModelOptions(ImageSize: size)))).ToList();
        var rows = new List<(string Name, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Model, bool InterOp, bool Fused, bool Gemm, string Figures)>();
        foreach (var (name, model) in models)
        {
            double pm = model.parameters().Sum(p => p.numel()) / 1e6;
            var thopReport = FlopCounter.Count(model, [1, 3, size, size], FlopConvention.Thop);
            double fv = FlopCounter.Count(model, [1, 3, size, size], FlopConvention.Fvcore).GFlops;
            string figures = FormattableString.Invariant($"{pm:F2} | {thopReport.VisibleParameters / 1e6:F2} | {thopReport.GFlops:F3} | {fv:F3}");
            model.eval();
            bool interOpOn = KernelOptions.Current.InterOp, fused = KernelOptions.Current.FusedMamba, gemm = KernelOptions.Current.Gemm, vgamba = name.StartsWith("vgamba", StringComparison.Ordinal);
            rows.Add((name, model, interOpOn, fused, gemm, figures));
            if (serialRows && interOpOn && vgamba)
                rows.Add((name + " (serial)", model, false, fused, gemm, figures));
            if (unfusedRows && fused && vgamba)
                rows.Add((name + " (module Mamba)", model, interOpOn, false, gemm, figures));
            if (libtorchGemmRows && gemm && vgamba)
                rows.Add((name + " (libtorch GEMM)", model, interOpOn, fused, false, figures));
        }
        var ms = new Dictionary<(string, int), double>();
        var msMin = new Dictionary<(string, int), double>();
        foreach (int b in batches)
        {
            using var noGrad = TorchSharp.torch.no_grad();
            using var x = TorchSharp.torch.randn(b, 3, size, size);
            var actions = rows.Select(r => (Action)(() =>
            {
                using var kernels = KernelOptions.Use(KernelOptions.Current with { InterOp = r.InterOp, FusedMamba = r.Fused, Gemm = r.Gemm });
                r.Model.call(x);
            })).ToArray();
            for (int w = 1; w < warmup; w++) Measure.RoundRobin(1, actions);   // RoundRobin itself warms up once
            var t = Measure.RoundRobin(reps, actions);
            for (int i = 0; i < rows.Count; i++)
            {
                ms[(rows[i].Name, b)] = t[i].WallMedian;
                msMin[(rows[i].Name, b)] = t[i].WallMin;
            }
        }
        foreach (var r in rows)
            Console.WriteLine($"| {r.Name} | {r.Figures} |" + string.Concat(batches.Select(b =>
                FormattableString.Invariant($" {ms[(r.Name, b)]:F0} | {b * 1000 / ms[(r.Name, b)]:F2} |"))));
        Console.WriteLine();
        foreach (int b in batches)
            if (ms.TryGetValue(("vgamba_b", b), out var vgMs) && ms.TryGetValue(("resnet50", b), out var rnMs))
            {
                double vg = b * 1000 / vgMs, rn = b * 1000 / rnMs, target = 0.7 * rn * (4.1 / 4.65);
                double vgMin = msMin[("vgamba_b", b)], rnMin = msMin[("resnet50", b)];
                Console.WriteLine(FormattableString.Invariant(
                    $"batch {b}: vgamba_b {vg:F2} img/s vs target 0.7 × resnet50 {rn:F2} × 4.1/4.65 = {target:F2} img/s → {(vg >= target ? "met" : "NOT met")} (ratio {vg / rn:F3}, target 0.617; at the fastest reps: {vgMin:F0} vs {rnMin:F0} ms, ratio {rnMin / vgMin:F3})"));
            }
        foreach (var (_, model) in models) model.Dispose();
        return 0;
    }
}
