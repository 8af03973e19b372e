using System.Diagnostics;
using System.Globalization;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// The C# AVX-512 GEMM (<see cref="Gemm"/>) against libtorch's <c>nn.functional.linear</c> (MKL) at the projection
/// shapes of Vim-S / Mamba (BENCHMARKS.md "GEMM"), interleaved rep by rep in one process.
/// Usage: <c>gemm [--threads 2] [--reps 30] [--shapes M×K×N,...]</c>.
/// </summary>
public static class GemmSuite
{
    public static void RegisterSuite() =>
        Suites.Register("gemm", "C# AVX-512 GEMM (Gemm.Linear) vs nn.functional.linear at Vim-S projection shapes, interleaved", Run);

    static readonly string DefaultShapes =
        "197x384x1536,197x768x384,197x768x56,197x24x768,1025x384x1536,1025x768x384,1025x768x56,4097x384x1536,4097x768x384,1024x1024x1024";

    static int Run(string[] args)
    {
        TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        if (args.Contains("--train")) return TrainProducts(args);
        int reps = Measure.IntOption(args, "--reps", 30);
        var shapes = Measure.StringOption(args, "--shapes", DefaultShapes).Split(',', StringSplitOptions.RemoveEmptyEntries);
        Console.WriteLine($"threads {TorchRuntime.Threads}, reps {reps}, kernel supported: {Gemm.KernelSupported}; times in ms (min / median), GMAC/s at the median");
        Console.WriteLine($"{"M×K×N",-16} {"linear (MKL) min/med",22} {"GMAC/s",7} {"Gemm min/med",18} {"GMAC/s",7} {"speed-up",8} {"max|Δ|",9}");
        using var _ = no_grad();
        if (!Gemm.KernelSupported)
            Console.WriteLine("(skipped: Gemm.LinearKernel needs AVX-512, which .NET does not accelerate here; `gemm --train` times the 256-bit token products)");
        foreach (var s in Gemm.KernelSupported ? shapes : [])
        {
            var (m, k, n) = ParseShape(s);
            using var scope = NewDisposeScope();
            var x = randn(m, k);
            var w = randn(n, k) / Math.Sqrt(k);
            var b = randn(n);
            double diff = (Gemm.LinearKernel(x, w, b) - Gemm.LinearReference(x, w, b)).abs().max().item<float>();
            var (lib, mine) = Interleaved(() => Gemm.LinearReference(x, w, b), () => Gemm.LinearKernel(x, w, b), reps);
            double macs = (double)m * k * n;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s,-16} {lib.Min,9:F3} / {lib.Median,9:F3} {macs / lib.Median / 1e6,7:F1} {mine.Min,8:F3} / {mine.Median,7:F3} {macs / mine.Median / 1e6,7:F1} {lib.Median / mine.Median,7:F2}× {diff,9:E1}"));
        }
        var groupShapes = Measure.StringOption(args, "--matmul", "2x56x768x197,2x768x24x197,2x56x768x1025,2x768x24x1025,1x384x768x197").Split(',', StringSplitOptions.RemoveEmptyEntries);
        Console.WriteLine();
        Console.WriteLine("channel-major y (G, N, L) = W (G, N, K) · x (G, K, L): torch.matmul vs Gemm.MatMul (x_proj, dt_proj of both Vim directions)");
        Console.WriteLine($"{"G×N×K×L",-16} {"matmul (MKL) min/med",22} {"GMAC/s",7} {"Gemm min/med",18} {"GMAC/s",7} {"speed-up",8} {"max|Δ|",9}");
        foreach (var s in groupShapes)
        {
            var d = s.Split('x').Select(long.Parse).ToArray();
            long g = d[0], n = d[1], k = d[2], l = d[3];
            using var scope = NewDisposeScope();
            var w = randn(g, n, k) / Math.Sqrt(k);
            var x = randn(g, k, l);
            double diff = (Gemm.MatMulKernel(w, x) - Gemm.MatMulReference(w, x)).abs().max().item<float>();
            var (lib, mine) = Interleaved(() => Gemm.MatMulReference(w, x), () => Gemm.MatMulKernel(w, x), reps);
            double macs = (double)g * n * k * l;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s,-16} {lib.Min,9:F3} / {lib.Median,9:F3} {macs / lib.Median / 1e6,7:F1} {mine.Min,8:F3} / {mine.Median,7:F3} {macs / mine.Median / 1e6,7:F1} {lib.Median / mine.Median,7:F2}× {diff,9:E1}"));
        }
        return 0;
    }

    /// <summary>The three products of a token-major linear layer's training step (y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x) at
    /// vmamba_nano's Linear2d shapes (batch 96 at 28²): libtorch (MKL) against the C# kernels.</summary>
    static int TrainProducts(string[] args)
    {
        int reps = Measure.IntOption(args, "--reps", 30);
        var shapes = Measure.StringOption(args, "--shapes",
            "18816x32x32,18816x32x128,18816x128x32,4704x64x64,4704x64x256,4704x256x64,1536x128x128,1536x128x512,1536x512x128,384x256x256,384x256x1024,384x1024x256").Split(',');
        using var _ = no_grad();
        Console.WriteLine($"{"M×K×N",-16} {"product",8} {"MKL med",9} {"C# med",9} {"speed-up",8} {"max|Δ|",9}");
        double sumLib = 0, sumMine = 0;
        foreach (var s in shapes)
        {
            var (m, k, n) = ParseShape(s);
            using var scope = NewDisposeScope();
            var x = randn(m, k);
            var w = randn(n, k) / Math.Sqrt(k);
            var dy = randn(m, n);
            var wt = w.t().contiguous();
            var cases = new (string, Func<Tensor>, Func<Tensor>)[]
            {
                ("y", () => nn.functional.linear(x, w), () => RowMajorGemm.Multiply(x, wt)),
                ("dx", () => mm(dy, w), () => RowMajorGemm.Multiply(dy, w)),
                ("dW", () => mm(dy.t(), x), () => RowMajorGemm.Multiply(dy, x, transposeA: true)),
            };
            foreach (var (label, lib, mine) in cases)
            {
                double diff = (lib() - mine()).abs().max().item<float>();
                var (a, b) = Interleaved(lib, mine, reps);
                sumLib += a.Median; sumMine += b.Median;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s,-16} {label,8} {a.Median,9:F3} {b.Median,9:F3} {a.Median / b.Median,7:F2}× {diff,9:E1}"));
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sum of medians: MKL {sumLib:F2} ms, C# {sumMine:F2} ms ({sumLib / sumMine:F2}×)"));
        return 0;
    }

    /// <summary>"M×K×N" written with x's, e.g. "197x384x1536".</summary>
    static (long M, long K, long N) ParseShape(string shape)
    {
        var d = shape.Split('x').Select(long.Parse).ToArray();
        return (d[0], d[1], d[2]);
    }

    /// <summary>Alternates a and b rep by rep (after warm-up) so load changes hit both alike; wall ms (min, median).</summary>
    internal static ((double Min, double Median) A, (double Min, double Median) B) Interleaved(Func<Tensor> a, Func<Tensor> b, int reps)
    {
        for (int i = 0; i < 3; i++) { a().Dispose(); b().Dispose(); }
        var ta = new double[reps];
        var tb = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            a().Dispose();
            ta[i] = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            b().Dispose();
            tb[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ta); Array.Sort(tb);
        return ((ta[0], ta[reps / 2]), (tb[0], tb[reps / 2]));
    }
}
