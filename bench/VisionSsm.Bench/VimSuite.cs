using System.Diagnostics;
using System.Globalization;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Vision Mamba inference speed and memory (BENCHMARKS.md "Vim and DeiT-S"): 2 threads, float32, no_grad, batch 1.
/// vim_small at 224², then vim_small beside deit_small (DeiT-S, same size class) at growing resolutions. Each
/// configuration runs in its own child process so its peak RSS (VmHWM) is its own.
/// Usage: <c>vim [--sizes 224,384,512,768,1024] [--threads 2] [--reps 5] [--cpu-time]</c>;
/// one configuration: <c>vim --one MODEL SIZE [--threads 2] [--reps 5]</c>; vim_nano training step:
/// <c>vim --nano-train [--threads 2]</c>; fused vs module path of the mixer, interleaved: <c>vim --compare SIZE</c>;
/// vim_small vs deit_small vs deit_small with its Linears on Ops.Gemm, interleaved: <c>vim --interleaved [--sizes 224,512]</c>.
/// </summary>
public static class VimSuite
{
    public static void RegisterSuite() =>
        Suites.Register("vim", "Vim-S vs DeiT-S inference: img/s and peak RSS per resolution (child process per config)", Run);

    static int Run(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 2);
        int reps = Measure.IntOption(args, "--reps", 5);
        // Process CPU time instead of wall time (with --threads 1 the load-robust figure on a shared machine).
        Measure.UseCpuTime = args.Contains("--cpu-time");
        if (args.Contains("--nano-train")) return NanoTrain(threads, reps);
        int compare = Array.IndexOf(args, "--compare");
        if (compare >= 0) return Compare(int.Parse(args[compare + 1], CultureInfo.InvariantCulture), threads, reps);
        if (args.Contains("--interleaved"))
            return Interleaved(Measure.StringOption(args, "--sizes", "224,512").Split(',').Select(int.Parse).ToArray(), threads, reps);
        int one = Array.IndexOf(args, "--one");
        if (one >= 0) return RunOne(args[one + 1], int.Parse(args[one + 2], CultureInfo.InvariantCulture), threads, reps);

        int s = Array.IndexOf(args, "--sizes");
        var sizes = s >= 0 ? args[s + 1].Split(',').Select(int.Parse).ToArray() : [224, 384, 512, 768, 1024];
        Console.WriteLine($"threads {threads}, float32, batch 1, median of {reps} after warm-up, {(Measure.UseCpuTime ? "process CPU ms" : "wall ms")}; peak RSS = VmHWM of a child process per row " +
            $"(glibc defaults); peak live = VmHWM of a second child with GLIBC_TUNABLES={LiveMemoryTunables}");
        Console.WriteLine();
        Console.WriteLine("| model | image | tokens | ms/img | img/s | peak RSS MiB | peak live MiB (1 MiB mmap threshold) | RSS before build MiB | page faults / forward |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (int size in sizes)
            foreach (var model in new[] { "vim_small", "deit_small" })
                Console.WriteLine(Child(model, size, threads, reps));
        return 0;
    }

    /// <summary>glibc setting for the "live memory" column: a fixed 1 MiB mmap threshold returns every large tensor to
    /// the OS when freed, so VmHWM is the true peak of live buffers rather than heap growth from the default dynamic
    /// threshold (which keeps freed blocks of up to 32 MiB in the heap).</summary>
    const string LiveMemoryTunables = "glibc.malloc.mmap_threshold=1048576";

    /// <summary>Runs <c>--one</c> in a fresh process and returns its table row (with glibc tunables when given).</summary>
    static string[]? ChildRow(string model, int size, int threads, int reps, string? tunables)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(VimSuite).Assembly.Location);
        foreach (var a in new[] { "vim", "--one", model, size.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--reps", reps.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        if (Measure.UseCpuTime) psi.ArgumentList.Add("--cpu-time");
        if (tunables is not null) psi.Environment["GLIBC_TUNABLES"] = tunables;
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var row = output.Split('\n').LastOrDefault(l => l.StartsWith("| ", StringComparison.Ordinal));
        return p.ExitCode == 0 && row is not null ? row.Split('|', StringSplitOptions.TrimEntries)[1..^1] : null;
    }

    /// <summary>One table row: timing and default-allocator memory from one child, live memory from a second.</summary>
    static string Child(string model, int size, int threads, int reps)
    {
        var timed = ChildRow(model, size, threads, reps, null);
        var live = ChildRow(model, size, threads, 1, LiveMemoryTunables);
        if (timed is null) return $"| {model} | {size} | | failed | | | | | |";
        // Columns of --one: model, image, tokens, ms, img/s, peak RSS, RSS before build, faults.
        return $"| {string.Join(" | ", timed[..6])} | {live?[5] ?? "failed"} | {timed[6]} | {timed[7]} |";
    }

    /// <summary>
    /// Training-step time of vim_nano on Fashion-MNIST-shaped batches (128 × 1 × 28 × 28, 10 classes: forward,
    /// cross-entropy, backward, AdamW step), and the implied time of one 60,000-image epoch.
    /// </summary>
    static int NanoTrain(int threads, int reps)
    {
        TorchRuntime.SetThreads(threads);
        using var model = ModelZoo.Create("vim_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.train();
        using var opt = TorchSharp.torch.optim.AdamW(model.parameters(), 1e-3);
        using var x = randn(128, 1, 28, 28);
        using var y = randint(0, 10, [128], dtype: ScalarType.Int64);
        int steps = Math.Max(reps, 5);
        var process = Process.GetCurrentProcess();
        var cpu0 = TimeSpan.Zero;
        int timed = 0;
        double ms = Measure.MedianMs(() =>
        {
            if (timed++ == 2) { process.Refresh(); cpu0 = process.TotalProcessorTime; }   // after the 2 warm-up steps
            opt.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            opt.step();
        }, warmup: 2, reps: steps);
        process.Refresh();
        // CPU seconds per step: on a loaded machine this is closer to the quiet-machine cost than wall time.
        double cpuMs = (process.TotalProcessorTime - cpu0).TotalMilliseconds / steps;
        double fwdMs = Measure.MedianMs(() => nn.functional.cross_entropy(model.call(x), y), warmup: 1, reps: 3);
        double fwdNoGradMs;
        using (no_grad()) fwdNoGradMs = Measure.MedianMs(() => model.call(x), warmup: 1, reps: 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"forward with autograd {fwdMs:F0} ms, forward under no_grad {fwdNoGradMs:F0} ms (wall, median of 3)"));
        long parameters = model.parameters().Sum(p => p.numel());
        Console.WriteLine($"vim_nano ({parameters:N0} parameters), batch 128 × 1 × 28², {threads} threads, float32, median of {steps} steps");
        Console.WriteLine();
        Console.WriteLine("| step ms (wall, median) | img/s | epoch of 60,000 (469 steps) | process CPU ms / step |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {ms:F0} | {128000 / ms:F0} | {469 * ms / 1000:F0} s | {cpuMs:F0} |"));
        return 0;
    }

    /// <summary>Minor page faults of this process so far (/proc/self/stat field 10): a load-independent sign of
    /// buffers being returned to the OS and faulted in again.</summary>
    static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);   // field 10 overall; 3rd after the command name
    }

    /// <summary>
    /// vim_small at one size, the fused inference path of <see cref="Layers.BiMamba"/> against its per-direction
    /// module path (and against the fused path with libtorch's GEMMs instead of <see cref="Ops.Gemm"/>), interleaved rep by rep in one process (robust to load from other processes): min and median ms.
    /// </summary>
    static int Compare(int size, int threads, int reps)
    {
        TorchRuntime.SetThreads(threads);
        using var model = ModelZoo.Create("vim_small", new ModelOptions(ImageSize: size));
        model.eval();
        using var x = randn(1, 3, size, size);
        var wall = new[] { new List<double>(), new List<double>(), new List<double>(), new List<double>() };
        var cpu = new[] { new List<double>(), new List<double>(), new List<double>(), new List<double>() };
        var process = Process.GetCurrentProcess();
        using (no_grad())
            for (int i = 0; i < reps + 1; i++)
                foreach (int path in new[] { 0, 1, 3 })
                {
                    using var kernels = Runtime.KernelOptions.Use(Runtime.KernelOptions.Current with
                    {
                        FusedMamba = path != 1, Gemm = path != 3,
                    });
                    using var scope = NewDisposeScope();
                    process.Refresh();
                    var cpu0 = process.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    model.call(x);
                    double ms = sw.Elapsed.TotalMilliseconds;
                    process.Refresh();
                    if (i == 0) continue;
                    wall[path].Add(ms);
                    cpu[path].Add((process.TotalProcessorTime - cpu0).TotalMilliseconds);
                }
        static string Fmt(List<double> v) => string.Create(CultureInfo.InvariantCulture, $"min {v.Min():F1}, median {v.Order().ElementAt(v.Count / 2):F1}");
        Console.WriteLine($"vim_small {size}², {threads} threads, batch 1, {reps} interleaved reps after 1 warm-up; " +
            "process CPU ms per forward (all threads) is the load-robust figure with --threads 1");
        Console.WriteLine($"fused path, directions batched: wall ms {Fmt(wall[0])}; CPU ms {Fmt(cpu[0])}");
        Console.WriteLine($"fused path, directions batched, libtorch GEMMs (gemm=off): wall ms {Fmt(wall[3])}; CPU ms {Fmt(cpu[3])}");
        Console.WriteLine($"module path: wall ms {Fmt(wall[1])}; CPU ms {Fmt(cpu[1])}");
        return 0;
    }

    /// <summary>
    /// vim_small, deit_small (libtorch's own layers: the issue's baseline) and deit_small with its Linear layers on
    /// <see cref="Ops.Gemm.Linear"/> (the fairness check: what the same C# GEMM would give DeiT-S), one size at a time,
    /// interleaved rep by rep in one process: min and median wall ms.
    /// </summary>
    static int Interleaved(int[] sizes, int threads, int reps)
    {
        TorchRuntime.SetThreads(threads);
        Console.WriteLine($"{threads} threads, batch 1, float32, {reps} interleaved reps after 2 warm-ups, {(Measure.UseCpuTime ? "process CPU ms (all threads)" : "wall ms")}");
        Console.WriteLine();
        Console.WriteLine("| image | vim_small min / median | deit_small min / median | deit_small, Linear layers on Gemm, min / median | deit Gemm vs libtorch max abs diff |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (int size in sizes)
        {
            using var scope = NewDisposeScope();
            using var vim = ModelZoo.Create("vim_small", new ModelOptions(ImageSize: size));
            using var deit = ModelZoo.Create("deit_small", new ModelOptions(ImageSize: size));
            vim.eval(); deit.eval();
            var p = deit.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);
            int depth = p.Keys.Count(k => k.EndsWith(".attn.qkv.weight", StringComparison.Ordinal));
            var x = randn(1, 3, size, size);
            var runs = new Func<Tensor>[] { () => vim.call(x), () => deit.call(x), () => DeitOnGemm(p, depth, x) };
            var times = runs.Select(_ => new List<double>()).ToArray();
            double diff;
            using (no_grad())
            {
                diff = (deit.call(x) - DeitOnGemm(p, depth, x)).abs().max().item<float>();
                for (int i = 0; i < reps + 2; i++)
                    for (int r = 0; r < runs.Length; r++)
                    {
                        using var repScope = NewDisposeScope();
                        double cpu0 = Measure.ProcessCpuMs();
                        var sw = Stopwatch.StartNew();
                        runs[r]();
                        if (i > 1) times[r].Add(Measure.UseCpuTime ? Measure.ProcessCpuMs() - cpu0 : sw.Elapsed.TotalMilliseconds);
                    }
            }
            static string Fmt(List<double> v) => string.Create(CultureInfo.InvariantCulture, $"{v.Min():F0} / {v.Order().ElementAt(v.Count / 2):F0}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {size}² | {Fmt(times[0])} | {Fmt(times[1])} | {Fmt(times[2])} | {diff:E1} |"));
        }
        return 0;
    }

    /// <summary>DeiT-S inference written out (Models/Vit.cs: timm's VisionTransformer) with every Linear on Gemm.Linear;
    /// LayerNorm, GELU, attention (scaled_dot_product_attention) and the patch conv stay on libtorch.</summary>
    static Tensor DeitOnGemm(Dictionary<string, Tensor> p, int depth, Tensor x)
    {
        using var scope = NewDisposeScope();
        long c = p["cls_token"].shape[2], heads = c / 64;
        Tensor Lin(Tensor t, string name) => Ops.Gemm.Linear(t, p[name + ".weight"], p[name + ".bias"]);
        Tensor Norm(Tensor t, string name) => nn.functional.layer_norm(t, [c], p[name + ".weight"], p[name + ".bias"], 1e-6);
        var t = nn.functional.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], strides: [16, 16]).flatten(2).transpose(1, 2);
        t = cat([p["cls_token"].expand(t.shape[0], -1, -1), t], dim: 1) + p["pos_embed"];
        long b = t.shape[0], n = t.shape[1];
        for (int i = 0; i < depth; i++)
        {
            string blk = $"blocks.{i}";
            var qkv = Lin(Norm(t, blk + ".norm1"), blk + ".attn.qkv").reshape(b, n, 3, heads, c / heads).permute(2, 0, 3, 1, 4).unbind(0);
            var o = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
            t = t + Lin(o.transpose(1, 2).reshape(b, n, c), blk + ".attn.proj");
            t = t + Lin(nn.functional.gelu(Lin(Norm(t, blk + ".norm2"), blk + ".mlp.fc1")), blk + ".mlp.fc2");
        }
        return Lin(Norm(t, "norm").select(1, 0), "head").MoveToOuterDisposeScope();
    }

    static int RunOne(string name, int size, int threads, int reps)
    {
        TorchRuntime.SetThreads(threads);
        double before = Measure.PeakRssMiB();
        using var model = ModelZoo.Create(name, new ModelOptions(ImageSize: size));
        model.eval();
        using var x = randn(1, 3, size, size);
        double ms;
        long faults0, faults1;
        using (no_grad())
        {
            ms = Measure.MedianMs(() => model.call(x), warmup: 1, reps: reps);
            faults0 = MinorFaults();
            using (NewDisposeScope()) model.call(x);
            faults1 = MinorFaults();
        }
        int tokens = (size / 16) * (size / 16) + 1;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {size}² | {tokens} | {ms:F0} | {1000 / ms:F2} | {Measure.PeakRssMiB():F0} | {before:F0} | {faults1 - faults0} |"));
        return 0;
    }
}
