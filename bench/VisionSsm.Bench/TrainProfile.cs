using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Where a training step of a small-image model goes: forward (with autograd), backward and AdamW step, plus each
/// module type's share of the forward (timed with forward pre/post hooks; a container's time includes its children's).
/// <c>train-profile [--model vmamba_nano] [--batch 96] [--threads 2] [--steps 10] [--lane]</c>.
/// </summary>
public static class TrainProfile
{
    public static void RegisterSuite() =>
        Suites.Register("train-profile", "training-step split (forward / backward / optimizer) and forward time per module type, 1×28×28", Run);

    static int Run(string[] args)
    {
        if (args.Contains("--row-vs-lane")) return RowVsLane(args);
        if (args.Contains("--gemm-ab")) return GemmAb(args);
        if (args.Contains("--dataparallel-ab")) return DataParallelAb(args);
        string name = Measure.StringOption(args, "--model", "vmamba_nano");
        int batch = Measure.IntOption(args, "--batch", 96);
        int steps = Measure.IntOption(args, "--steps", 10);
        Runtime.TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        // --lane: N = 1 scans on the lane kernel instead of the row kernel.
        using var kernels = Runtime.KernelOptions.Use(Runtime.KernelOptions.Current with { ScanRowKernel = args.Contains("--lane") ? false : null });
        using var model = ModelZoo.Create(name, new ModelOptions(10, InChannels: 1, ImageSize: 28));
        model.train();
        using var opt = optim.AdamW(model.parameters(), 1e-3, weight_decay: 0.05);
        using var x = randn(batch, 1, 28, 28);
        using var y = randint(0, 10, [batch]);

        var byType = new Dictionary<string, double>();
        var started = new Dictionary<nn.Module, long>();
        bool timing = false;
        var handles = new List<Action>();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not nn.Module<Tensor, Tensor> leaf || ReferenceEquals(m, model)) continue;
            var pre = leaf.register_forward_pre_hook((mod, input) => { if (timing) started[mod] = Stopwatch.GetTimestamp(); return input; });
            var post = leaf.register_forward_hook((mod, input, output) =>
            {
                if (timing && started.TryGetValue(mod, out long t0))
                {
                    string key = mod.GetType().Name;
                    byType[key] = byType.GetValueOrDefault(key) + Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                return output;
            });
            handles.Add(pre.remove);
            handles.Add(post.remove);
        }

        double fwd = 0, bwd = 0, step = 0, total = 0;
        for (int i = 0; i < steps + 2; i++)
        {
            using var scope = NewDisposeScope();
            timing = i >= 2;
            long t0 = Stopwatch.GetTimestamp();
            opt.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            long t1 = Stopwatch.GetTimestamp();
            loss.backward();
            long t2 = Stopwatch.GetTimestamp();
            opt.step();
            long t3 = Stopwatch.GetTimestamp();
            if (!timing) continue;
            fwd += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
            bwd += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
            step += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds;
            total += Stopwatch.GetElapsedTime(t0, t3).TotalMilliseconds;
        }
        foreach (var remove in handles) remove();
        var pieces = PieceTimes(model, x, steps);
        string F(double ms) => (ms / steps).ToString("F1", CultureInfo.InvariantCulture);
        Console.WriteLine($"{name}, batch {batch} × 1×28², mean of {steps} steps: step {F(total)} ms = forward {F(fwd)} + backward {F(bwd)} + AdamW {F(step)}  ({batch * steps * 1000 / total:F0} img/s)");
        Console.WriteLine("| module type (forward, inclusive of children and hook cost) | ms / step | share of forward |");
        Console.WriteLine("|---|---|---|");
        foreach (var (k, v) in byType.OrderByDescending(kv => kv.Value))
            Console.WriteLine(FormattableString.Invariant($"| {k} | {v / steps:F1} | {v / fwd:P0} |"));
        Console.WriteLine();
        Console.WriteLine("| module (forward + backward alone, on its real input) | ms | share of the sum |");
        Console.WriteLine("|---|---|---|");
        double sum = pieces.Sum(p => p.ms);
        foreach (var (key, ms) in pieces)
            Console.WriteLine(FormattableString.Invariant($"| {key} | {ms:F1} | {ms / sum:P0} |"));
        return 0;
    }

    /// <summary>
    /// Whole training steps (forward, backward, AdamW) with the C# GEMMs (<see cref="Runtime.KernelOptions.Gemm"/>: TokenLinear in
    /// Linear2d, …) against libtorch's MKL, alternating step by step in one process so VM speed swings hit both alike.
    /// </summary>
    static int GemmAb(string[] args)
    {
        string name = Measure.StringOption(args, "--model", "vmamba_nano");
        int batch = Measure.IntOption(args, "--batch", 96);
        int rounds = Measure.IntOption(args, "--rounds", 40);
        Runtime.TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        using var model = ModelZoo.Create(name, new ModelOptions(10, InChannels: 1, ImageSize: 28));
        model.train();
        using var opt = optim.AdamW(model.parameters(), 1e-3, weight_decay: 0.05);
        using var x = randn(batch, 1, 28, 28);
        using var y = randint(0, 10, [batch]);
        void Step(bool csharp)
        {
            using var kernels = Runtime.KernelOptions.Use(Runtime.KernelOptions.Current with { Gemm = csharp });
            opt.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            opt.step();
        }
        var r = Measure.RoundRobin(rounds, () => Step(false), () => Step(true));
        Console.WriteLine(FormattableString.Invariant($"{name}, batch {batch} × 1×28², {Runtime.TorchRuntime.Threads} threads, {rounds} steps each, alternating"));
        Console.WriteLine("| GEMMs | step ms median | step ms min | img/s at the median | calling thread's CPU ms, min |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (label, (cpu, median, min)) in new[] { "libtorch (MKL)", $"C# (gemm=on, choice={Runtime.KernelOptions.Current.Choice.ToString().ToLowerInvariant()})" }.Zip(r))
            Console.WriteLine(FormattableString.Invariant($"| {label} | {median:F1} | {min:F1} | {batch * 1000 / median:F0} | {cpu:F1} |"));
        foreach (var (key, ours) in Runtime.KernelChooser.Process.Choices.OrderBy(kv => kv.Key))
            Console.WriteLine($"  {key}: {(ours ? "ours" : "libtorch")}");
        return 0;
    }

    /// <summary>
    /// The data-parallel training step (Training/DataParallelStep: one shard of the batch per thread, side by side)
    /// against the serial step (every op split across the threads) and the serial step on one thread, alternating step
    /// by step: <c>train-profile --dataparallel-ab [--model vmamba_nano] [--batch 96] [--threads 2] [--rounds 30]</c>.
    /// Reports wall ms and the whole process's CPU ms per step (medians): on a shared machine the CPU time is the
    /// steadier figure, and ideal sharding costs the CPU of the one-thread step.
    /// </summary>
    static int DataParallelAb(string[] args)
    {
        string name = Measure.StringOption(args, "--model", "vmamba_nano");
        int batch = Measure.IntOption(args, "--batch", 96);
        int rounds = Measure.IntOption(args, "--rounds", 30);
        int threads = Measure.IntOption(args, "--threads", 2);
        Runtime.TorchRuntime.SetThreads(threads);
        using var model = ModelZoo.Create(name, new ModelOptions(10, InChannels: 1, ImageSize: 28, DropPathRate: 0));
        model.train();
        var parameters = model.parameters().ToList();
        using var opt = optim.AdamW(parameters, 1e-3, weight_decay: 0.05);
        using var x = randn(batch, 1, 28, 28);
        using var y = randint(0, 10, [batch]);
        static Tensor Loss(Tensor logits, Tensor targets) => nn.functional.cross_entropy(logits, targets);
        double lastSerial = 0, lastSharded = 0;
        void Serial(int t)
        {
            Runtime.TorchRuntime.SetThreads(t);
            opt.zero_grad();
            var loss = Loss(model.call(x), y);
            lastSerial = loss.item<float>();
            loss.backward();
            opt.step();
            Runtime.TorchRuntime.SetThreads(threads);
        }
        void Sharded()
        {
            lastSharded = Training.DataParallelStep.ComputeGradients(model, parameters, x, y, y, Loss, threads, 1).Loss;
            opt.step();
        }
        var actions = new Action[] { () => Serial(threads), Sharded, () => Serial(1) };
        var labels = new[] { $"serial, {threads} threads (dataparallel=off)", $"data-parallel, {threads} shards × 1 thread", "serial, 1 thread" };
        foreach (var a in actions) { using var s = NewDisposeScope(); a(); }
        var wall = actions.Select(_ => new double[rounds]).ToArray();
        var cpu = actions.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < actions.Length; i++)
            {
                using var s = NewDisposeScope();
                double c0 = Measure.ProcessCpuMs();
                long t0 = Stopwatch.GetTimestamp();
                actions[i]();
                wall[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                cpu[i][r] = Measure.ProcessCpuMs() - c0;
            }
        static double Median(double[] v) { var c = (double[])v.Clone(); Array.Sort(c); return c[c.Length / 2]; }
        Console.WriteLine(FormattableString.Invariant($"{name}, batch {batch} × 1×28², drop path 0, {rounds} steps each, alternating; losses of the last steps {lastSerial:F4} / {lastSharded:F4}"));
        Console.WriteLine("| step | wall ms median | wall ms min | img/s at the median | process CPU ms median |");
        Console.WriteLine("|---|---|---|---|---|");
        for (int i = 0; i < actions.Length; i++)
            Console.WriteLine(FormattableString.Invariant($"| {labels[i]} | {Median(wall[i]):F1} | {wall[i].Min():F1} | {batch * 1000 / Median(wall[i]):F0} | {Median(cpu[i]):F1} |"));
        return 0;
    }

    /// <summary>N = 1 scans (grouped B/C, 4 routes, softplus, D) at VMamba shapes: fwd+bwd and fwd on the row kernel vs the
    /// lane kernel, interleaved rep by rep, medians.</summary>
    static int RowVsLane(string[] args)
    {
        Runtime.TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        Console.WriteLine("| batch, D (4 routes), L | row fwd ms | lane fwd ms | row fwd+bwd ms | lane fwd+bwd ms |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (b, d, l) in new[] { (96, 128, 196), (96, 256, 49), (96, 512, 16), (96, 1024, 4), (1, 384, 3136), (1, 768, 784), (1, 1536, 196), (1, 3072, 49), (8, 384, 3136), (8, 768, 784), (8, 1536, 196) })
        {
            using var scope = NewDisposeScope();
            var u = randn(b, d, l); var dt = randn(b, d, l) * 0.5; var a = -rand(d, 1) - 0.5;
            var bm = randn(b, 4, 1, l); var cm = randn(b, 4, 1, l); var dd = randn(d); var bias = randn(d) * 0.1;
            var g = randn(b, d, l);
            var leaves = new[] { u, dt, a, bm, cm }.Select(t => t.requires_grad_(true)).ToArray();
            double[] Time(bool lane, bool backward)
            {
                var times = new double[7];
                for (int i = 0; i < times.Length + 2; i++)
                {
                    using var inner = NewDisposeScope();
                    using var kernels = Runtime.KernelOptions.Use(Runtime.KernelOptions.Current with { ScanRowKernel = !lane });
                    long t0 = Stopwatch.GetTimestamp();
                    if (backward) Ops.SelectiveScan.Apply(u, dt, a, bm, cm, dd, null, bias, true).backward([g]);
                    else using (no_grad()) Ops.SelectiveScan.Apply(u, dt, a, bm, cm, dd, null, bias, true);
                    if (i >= 2) times[i - 2] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(times);
                return times;
            }
            var rf = new List<double>(); var lf = new List<double>(); var rb = new List<double>(); var lb = new List<double>();
            for (int round = 0; round < 3; round++)
            {
                rf.Add(Time(false, false)[3]); lf.Add(Time(true, false)[3]);
                rb.Add(Time(false, true)[3]); lb.Add(Time(true, true)[3]);
            }
            Console.WriteLine(FormattableString.Invariant($"| {b}, {d}, {l} | {rf.Min():F2} | {lf.Min():F2} | {rb.Min():F2} | {lb.Min():F2} |"));
        }
        return 0;
    }

    /// <summary>
    /// Forward + backward of every module with parameters of its own or a VSS/SS2D/MLP/norm type, each run alone on
    /// the input it received in one full forward (captured with hooks), median of <paramref name="reps"/>.
    /// </summary>
    static List<(string key, double ms)> PieceTimes(nn.Module<Tensor, Tensor> model, Tensor x, int reps)
    {
        var inputs = new List<(string name, nn.Module<Tensor, Tensor> module, Tensor input)>();
        var handles = new List<Action>();
        foreach (var (name, m) in model.named_modules())
        {
            if (m is not nn.Module<Tensor, Tensor> mod || ReferenceEquals(m, model)) continue;
            string type = m.GetType().Name;
            if (type is not ("SS2D" or "Mlp2d" or "LayerNorm2d" or "Sequential" or "Conv2d" or "Linear")) continue;
            if (type == "Sequential" && !(name.EndsWith("downsample", StringComparison.Ordinal) || name == "patch_embed" || name == "classifier")) continue;
            if (type == "Conv2d" && !name.Contains("conv2d", StringComparison.Ordinal)) continue;
            var h = mod.register_forward_pre_hook((mm, input) => { inputs.Add((name, mod, input.detach().clone().DetachFromDisposeScope())); return input; });
            handles.Add(h.remove);
        }
        using (var scope = NewDisposeScope()) model.call(x);
        foreach (var remove in handles) remove();
        var result = new List<(string, double)>();
        foreach (var (name, module, input) in inputs)
        {
            double ms = Measure.MedianMs(() =>
            {
                using var leaf = input.detach().requires_grad_(true);
                var output = module.call(leaf);
                output.backward([ones_like(output)]);
            }, warmup: 1, reps: reps);
            result.Add(($"{name} ({module.GetType().Name}, in {string.Join('×', input.shape)})", ms));
            input.Dispose();
        }
        return result;
    }
}
