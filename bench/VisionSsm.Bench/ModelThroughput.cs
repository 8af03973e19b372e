using System.Diagnostics;
using VisionSsm.Analysis;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>Inference timing of zoo models: median wall time of repeated forward passes after warm-up, float32, no_grad.</summary>
public static class ModelThroughput
{
    /// <summary>Median seconds per forward pass of <paramref name="model"/> on a (batch, C, size, size) input.</summary>
    public static double MedianSeconds(nn.Module<Tensor, Tensor> model, int batch, int channels, int size, int warmup, int reps)
    {
        model.eval();
        using var _ = no_grad();
        using var x = randn(batch, channels, size, size);
        for (int i = 0; i < warmup; i++)
        {
            using var scope = NewDisposeScope();
            model.call(x);
        }
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            model.call(x);
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    /// <summary>Parses <c>--name value</c> pairs (all optional) after the suite name.</summary>
    public static Dictionary<string, string> ParseOptions(string[] args)
    {
        var o = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected --option value; got '{args[i]}'");
            o[args[i][2..]] = args[i + 1];
        }
        return o;
    }

    /// <summary>GMACs of one 224² image in the given convention.</summary>
    public static double GMacs(nn.Module<Tensor, Tensor> model, int size, FlopConvention convention) =>
        FlopCounter.Count(model, [1, 3, size, size], convention).GFlops;
}
