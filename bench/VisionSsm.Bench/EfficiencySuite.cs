using System.Diagnostics;
using System.Globalization;
using VisionSsm.Analysis;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Efficiency against libtorch's best in one process (issue "fast on the CPU the user has"): pairs of models timed
/// rep by rep, interleaved, so a fluctuating load hits both alike; the figure is the ratio of images per second.
/// <c>efficiency [--pairs vim_small:deit_small@224x1,vmamba_tiny_s1l8:resnet50@224x8] [--rounds 5] [--train]
/// [--threads 2] [--warmup N]</c>; one model pass by pass (ms, RSS, page faults): <c>efficiency --curve
/// vmamba_tiny_s1l8@224x8 [--train] [--steps 40]</c>; per-layer-type forward time beside the FLOP breakdown: <c>efficiency --profile MODEL [--size 224]
/// [--batch 1] [--rounds 5]</c>; one model under two kernel settings, interleaved: <c>efficiency --kernels-ab
/// choice=libtorch [--models vim_small@224x1,vmamba_tiny_s1l8@224x8] [--train]</c>.
/// </summary>
public static class EfficiencySuite
{
    public static void RegisterSuite() =>
        Suites.Register("efficiency", "model pairs (ours vs libtorch's best) interleaved in one process: img/s ratios; --profile: time per layer type beside FLOPs", Run);

    static int Run(string[] args)
    {
        Runtime.TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        int rounds = Measure.IntOption(args, "--rounds", 5);
        string profile = Measure.StringOption(args, "--profile", "");
        if (profile.Length > 0)
            return Profile(profile, Measure.IntOption(args, "--size", 224), Measure.IntOption(args, "--batch", 1), rounds);
        bool train = args.Contains("--train");
        string curve = Measure.StringOption(args, "--curve", "");
        if (curve.Length > 0)
            return Curve(curve, Measure.IntOption(args, "--steps", 40), train);
        string ab = Measure.StringOption(args, "--kernels-ab", "");
        if (ab.Length > 0)
            return KernelsAb(Runtime.KernelOptions.Parse(ab), Measure.StringOption(args, "--models", "vim_small@224x1,vmamba_tiny_s1l8@224x8"), rounds, train);
        string pairs = Measure.StringOption(args, "--pairs", "vim_small:deit_small@224x1,vmamba_tiny_s1l8:resnet50@224x8");
        // --warmup N: untimed passes of each model first. A training run's first steps grow glibc's heap (page faults on
        // new memory) until the allocation pattern settles, which takes 15–30 steps for VMamba-T and Vim-S at 224²
        // (docs/threads.md §5); a long run is timed in the settled state.
        int warmup = Measure.IntOption(args, "--warmup", 0);
        Console.WriteLine($"{(train ? "training step (fwd + CE + bwd + AdamW; data-parallel where the trainers take it)" : "inference (eval, no_grad)")}, {Runtime.TorchRuntime.Threads} threads, .NET SIMD {Measure.SimdWidth}, libtorch ISA caps: {Measure.LibtorchIsaCaps}, kernels: {Runtime.KernelOptions.Current}; {warmup} warm-up passes, {rounds} interleaved rounds, median wall ms");
        Console.WriteLine("| ours | baseline | size | batch | ours ms | baseline ms | ours img/s | baseline img/s | ratio | ratio by calling thread's CPU min (1 thread) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var spec in pairs.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (a, b, size, batch) = ParsePair(spec);
            using var pa = new Pass(a, size, batch, train);
            using var pb = new Pass(b, size, batch, train);
            for (int i = 0; i < warmup; i++)
            {
                pa.Run();
                pb.Run();
            }
            var r = Measure.RoundRobin(rounds, pa.Run, pb.Run);
            double ia = batch * 1000 / r[0].WallMedian, ib = batch * 1000 / r[1].WallMedian;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {a} | {b} | {size} | {batch} | {r[0].WallMedian:F0} | {r[1].WallMedian:F0} | {ia:F2} | {ib:F2} | {ia / ib:F2} | {(Runtime.TorchRuntime.Threads == 1 ? (r[1].CpuMin / r[0].CpuMin).ToString("F2", CultureInfo.InvariantCulture) : "–")} |"));
        }
        if (args.Contains("--choices"))
            foreach (var (key, ours) in Runtime.KernelChooser.Process.Choices.OrderBy(kv => kv.Key))
                Console.WriteLine($"  {key}: {(ours ? "ours" : "libtorch")}");
        return 0;
    }

    /// <summary>
    /// Pass by pass from a fresh model: wall ms, resident set size and minor page faults, to see how many passes a run
    /// needs before the heap stops growing: <c>efficiency --curve vmamba_tiny_s1l8@224x8 --train [--steps 40]</c>.
    /// </summary>
    static int Curve(string spec, int steps, bool train)
    {
        var (name, _, size, batch) = ParsePair(spec.Split('@')[0] + ":-@" + (spec.Contains('@') ? spec.Split('@')[1] : "224x1"));
        using var pass = new Pass(name, size, batch, train);
        Console.WriteLine($"{name} {size}² batch {batch}, {(train ? "training step" : "inference")}, {Runtime.TorchRuntime.Threads} threads, kernels: {Runtime.KernelOptions.Current}");
        Console.WriteLine("| pass | wall ms | RSS MiB | minor page faults |");
        Console.WriteLine("|---|---|---|---|");
        for (int i = 1; i <= steps; i++)
        {
            long f0 = Measure.MinorFaults();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            pass.Run();
            double ms = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {i} | {ms:F0} | {Measure.RssMiB():F0} | {Measure.MinorFaults() - f0} |"));
        }
        return 0;
    }

    /// <summary>One model under the process's kernel options and under <paramref name="other"/>, interleaved pass by pass
    /// (<c>--kernels-ab choice=libtorch</c>: does the measured choice beat libtorch alone?).</summary>
    static int KernelsAb(Runtime.KernelOptions other, string models, int rounds, bool train)
    {
        var mine = Runtime.KernelOptions.Current;
        Console.WriteLine($"{(train ? "training step" : "inference")}, {Runtime.TorchRuntime.Threads} threads, A = kernels {mine}, B = kernels {other}; {rounds} interleaved rounds");
        Console.WriteLine("| model | size | batch | A ms median | B ms median | A/B speed | A thread-CPU min | B thread-CPU min |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var spec in models.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, _, size, batch) = ParsePair(spec.Split('@')[0] + ":-@" + (spec.Contains('@') ? spec.Split('@')[1] : "224x1"));
            using var pass = new Pass(name, size, batch, train);
            var r = Measure.RoundRobin(rounds, pass.Run, () => { using (Runtime.KernelOptions.Use(other)) pass.Run(); });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {size} | {batch} | {r[0].WallMedian:F0} | {r[1].WallMedian:F0} | {r[1].WallMedian / r[0].WallMedian:F2} | {r[0].CpuMin:F0} | {r[1].CpuMin:F0} |"));
        }
        foreach (var (key, ours) in Runtime.KernelChooser.Process.Choices.OrderBy(kv => kv.Key))
            Console.WriteLine($"  {key}: {(ours ? "ours" : "libtorch")}");
        return 0;
    }

    static (string A, string B, int Size, int Batch) ParsePair(string spec)
    {
        var at = spec.Split('@');
        var names = at[0].Split(':');
        var sb = (at.Length > 1 ? at[1] : "224x1").Split('x');
        if (names.Length != 2) throw new FormatException($"--pairs: expected ours:baseline@SIZExBATCH, got '{spec}'");
        return (names[0], names[1], int.Parse(sb[0], CultureInfo.InvariantCulture), sb.Length > 1 ? int.Parse(sb[1], CultureInfo.InvariantCulture) : 1);
    }

    /// <summary>One model's timed pass: a no_grad forward, or a training step on fixed inputs as the trainers take it
    /// (Training/DataParallelStep when it applies to the model, batch and threads; else forward, backward, AdamW).</summary>
    sealed class Pass : IDisposable
    {
        readonly nn.Module<Tensor, Tensor> model;
        readonly Tensor x, y;
        readonly TorchSharp.Modules.AdamW? opt;

        public Pass(string name, int size, int batch, bool train)
        {
            model = ModelZoo.Create(name, new ModelOptions(1000, 3, size));
            x = randn(batch, 3, size, size);
            y = randint(0, 1000, [batch]);
            if (train)
            {
                model.train();
                opt = optim.AdamW(model.parameters(), 1e-4, weight_decay: 0.05);
            }
            else model.eval();
        }

        public void Run()
        {
            if (opt is null)
            {
                using var _ = no_grad();
                model.call(x).Dispose();
                return;
            }
            using var scope = NewDisposeScope();
            opt.zero_grad();
            int shards = Training.DataParallelStep.ShardCount(model, x.shape[0], Runtime.TorchRuntime.Threads, CPU, Runtime.KernelOptions.Current);
            if (shards > 1)
                Training.DataParallelStep.ComputeGradients(model, model.parameters().ToList(), x, y, y, (l, t) => nn.functional.cross_entropy(l, t), shards, seed: 0);
            else
                nn.functional.cross_entropy(model.call(x), y).backward();
            opt.step();
        }

        public void Dispose() { opt?.Dispose(); model.Dispose(); x.Dispose(); y.Dispose(); }
    }

    /// <summary>Inference time per module type (leaf modules, or layers FlopCounter counts as a whole; hooks add a little
    /// time to each) beside the fvcore FLOPs per category.</summary>
    static int Profile(string name, int size, int batch, int rounds)
    {
        using var model = ModelZoo.Create(name, new ModelOptions(1000, 3, size));
        model.eval();
        var flops = FlopCounter.Count(model, [batch, 3, size, size], FlopConvention.Fvcore);
        using var x = randn(batch, 3, size, size);
        var byType = new Dictionary<string, double>();
        var started = new Dictionary<nn.Module, long>();
        bool timing = false;
        var handles = new List<Action>();
        void Hook(nn.Module m)
        {
            bool whole = LayerFlops.CountsAsWhole(m);
            if (m is nn.Module<Tensor, Tensor> leaf && (whole || !m.named_children().Any()))
            {
                var pre = leaf.register_forward_pre_hook((mod, input) => { if (timing) started[mod] = Stopwatch.GetTimestamp(); return input; });
                var post = leaf.register_forward_hook((mod, input, output) =>
                {
                    if (timing && started.TryGetValue(mod, out long t0))
                        byType[mod.GetType().Name] = byType.GetValueOrDefault(mod.GetType().Name) + Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    return output;
                });
                handles.Add(pre.remove);
                handles.Add(post.remove);
                if (whole) return;
            }
            foreach (var (_, child) in m.named_children()) Hook(child);
        }
        foreach (var (_, child) in model.named_children()) Hook(child);
        double total = 0;
        for (int i = 0; i < rounds + 1; i++)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            timing = i > 0;
            long t0 = Stopwatch.GetTimestamp();
            model.call(x);
            if (timing) total += Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        foreach (var remove in handles) remove();
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"{name}, {size}², batch {batch}, {Runtime.TorchRuntime.Threads} threads: forward {total / rounds:F1} ms (mean of {rounds}, hooks on), {flops.GFlops:F2} GFLOPs for the batch (fvcore)"));
        Console.WriteLine("| module type | ms | share |");
        Console.WriteLine("|---|---|---|");
        double sum = 0;
        foreach (var (type, ms) in byType.OrderByDescending(kv => kv.Value))
        {
            sum += ms;
            Console.WriteLine(string.Create(c, $"| {type} | {ms / rounds:F1} | {ms / total:P0} |"));
        }
        Console.WriteLine(string.Create(c, $"| other (glue outside those modules) | {(total - sum) / rounds:F1} | {(total - sum) / total:P0} |"));
        Console.WriteLine("| FLOP category | GFLOPs | share |");
        Console.WriteLine("|---|---|---|");
        foreach (var (cat, f) in flops.ByCategory.OrderByDescending(kv => kv.Value))
            Console.WriteLine(string.Create(c, $"| {cat} | {f / 1e9:F3} | {(double)f / flops.Total:P0} |"));
        return 0;
    }
}
