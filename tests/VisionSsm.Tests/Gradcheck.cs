using static TorchSharp.torch;

namespace VisionSsm.Tests;

/// <summary>Central finite differences in float64, the independent check of every hand-written backward.</summary>
public static class Gradcheck
{
    /// <summary>
    /// Compares the autograd gradient of <c>sum(f(inputs) · weights)</c> with respect to each input against central
    /// differences (step <paramref name="eps"/>), for at most <paramref name="maxElements"/> elements per input.
    /// Returns the worst relative error max|a − n| / max(1, max|n|) per input.
    /// </summary>
    public static double[] MaxRelativeError(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, int maxElements = 64, int seed = 7)
    {
        foreach (var t in inputs)
            if (t.dtype != ScalarType.Float64) throw new ArgumentException("gradcheck needs float64 inputs");
        Tensor weights;
        using (no_grad())
        using (var probe = f(inputs))
        {
            var g = new Generator((ulong)seed);
            weights = randn(probe.shape, dtype: ScalarType.Float64, generator: g);
        }
        var leaves = inputs.Select(t => t.detach().clone().requires_grad_(true)).ToArray();
        using (var outv = f(leaves))
        using (var loss = (outv * weights).sum())
            loss.backward();

        var errors = new double[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var analytic = leaves[i].grad!.flatten();
            var x = leaves[i].detach().clone();
            var flat = x.view(-1);
            long count = flat.numel();
            long step = Math.Max(1, count / maxElements);
            double worst = 0, scale = 1;
            for (long k = 0; k < count; k += step)
            {
                double orig = flat[k].item<double>();
                flat[k] = orig + eps;
                double plus = Eval(f, inputs, i, x, weights);
                flat[k] = orig - eps;
                double minus = Eval(f, inputs, i, x, weights);
                flat[k] = orig;
                double numeric = (plus - minus) / (2 * eps);
                worst = Math.Max(worst, Math.Abs(numeric - analytic[k].item<double>()));
                scale = Math.Max(scale, Math.Abs(numeric));
            }
            errors[i] = worst / scale;
        }
        return errors;
    }

    static double Eval(Func<Tensor[], Tensor> f, Tensor[] inputs, int replaced, Tensor value, Tensor weights)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var args = inputs.Select((t, j) => j == replaced ? value : t).ToArray();
        return (f(args) * weights).sum().item<double>();
    }
}
