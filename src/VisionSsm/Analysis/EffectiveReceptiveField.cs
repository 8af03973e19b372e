using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>How the input gradient becomes a contribution score per pixel.</summary>
public enum ErfGradient
{
    /// <summary>ReLU of the gradient, as RepLKNet's <c>erf/visualize_erf.py</c> and VMamba's <c>analyze/utils.py</c> do.</summary>
    Relu,
    /// <summary>Absolute value of the gradient (Luo et al. 2016's magnitude view).</summary>
    Abs,
}

/// <summary>An effective receptive field: the mean contribution map over the images, row-major (H, W).</summary>
public sealed record ErfMap(double[] Values, int Height, int Width, int Images, int Skipped)
{
    public double this[int y, int x] => Values[y * Width + x];
}

/// <summary>
/// The side of the smallest centred square holding more than <see cref="Threshold"/> of the map's total, and that
/// square's share of the image area; null when no square short of the whole image does (the reference scripts'
/// <c>get_rectangle</c> returns None then).
/// </summary>
public sealed record AreaRatio(double Threshold, int? Side, double? Ratio);

/// <summary>
/// The effective receptive field of a backbone's last feature map (VMamba §5.4, Fig. 10; RepLKNet's <c>erf/</c>
/// scripts): for each image, the gradient of <c>Σ_c relu(out[c, h/2, w/2])</c> (the centre unit of the last map) with
/// respect to the input, ReLU'd and summed over the batch and input channels, then averaged over the images (images
/// whose map has a NaN are skipped). docs/analysis.md §1.
/// </summary>
public static class EffectiveReceptiveField
{
    /// <summary>The fractions the reference scripts report.</summary>
    public static readonly IReadOnlyList<double> Thresholds = [0.2, 0.3, 0.5, 0.99];

    /// <summary>
    /// The contribution map (H·W, row-major) of one input batch (B, C, H, W) through <paramref name="featureMap"/>,
    /// which must return a (B, C', h, w) map. Works for any differentiable function (a model, a stack of convolutions).
    /// </summary>
    public static double[] Contribution(Func<Tensor, Tensor> featureMap, Tensor input, ErfGradient gradient = ErfGradient.Relu)
    {
        ArgumentNullException.ThrowIfNull(featureMap);
        if (input.dim() != 4) throw new ArgumentException($"expected an input batch (B, C, H, W); got {Ops.ScanArguments.Fmt(input.shape)}.", nameof(input));
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var x = input.detach().clone().requires_grad_(true);
        var map = featureMap(x);
        if (map.dim() != 4)
            throw new ArgumentException($"the feature map must be (B, C, h, w); got {Ops.ScanArguments.Fmt(map.shape)}.", nameof(featureMap));
        long h = map.shape[2], w = map.shape[3];
        var centre = nn.functional.relu(map.select(3, w / 2).select(2, h / 2)).sum();
        if (!centre.requires_grad) throw new InvalidOperationException("the feature map does not depend on the input through autograd.");
        var g = autograd.grad([centre], [x])[0];
        g = gradient == ErfGradient.Relu ? nn.functional.relu(g) : g.abs();
        return g.sum([0L, 1L]).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    /// <summary>
    /// The ERF averaged over <paramref name="inputs"/> (each (B, C, H, W), all the same size); <paramref name="progress"/>
    /// is told after each input (1-based count).
    /// </summary>
    public static ErfMap Compute(Func<Tensor, Tensor> featureMap, IEnumerable<Tensor> inputs, ErfGradient gradient = ErfGradient.Relu,
        Action<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        double[]? sum = null;
        int height = 0, width = 0, used = 0, skipped = 0, seen = 0;
        foreach (var input in inputs)
        {
            cancel.ThrowIfCancellationRequested();
            var c = Contribution(featureMap, input, gradient);
            if (sum is null)
            {
                (height, width) = ((int)input.shape[2], (int)input.shape[3]);
                sum = new double[c.Length];
            }
            else if (c.Length != sum.Length)
                throw new ArgumentException($"input {seen + 1} is {input.shape[2]}×{input.shape[3]}; the first was {height}×{width}.", nameof(inputs));
            seen++;
            if (c.Any(double.IsNaN)) skipped++;
            else
            {
                for (int i = 0; i < c.Length; i++) sum[i] += c[i];
                used++;
            }
            progress?.Invoke(seen);
        }
        if (sum is null) throw new ArgumentException("no inputs to average.", nameof(inputs));
        if (used > 0) for (int i = 0; i < sum.Length; i++) sum[i] /= used;
        return new ErfMap(sum, height, width, used, skipped);
    }

    /// <summary>
    /// The ERF of <paramref name="model"/>'s last <see cref="IVisionModel.FeatureInfo"/> level (eval mode, as the reference
    /// scripts: BatchNorm statistics and drop-path fixed).
    /// </summary>
    public static ErfMap Compute(VisionModel model, IEnumerable<Tensor> inputs, ErfGradient gradient = ErfGradient.Relu,
        Action<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.eval();
        int last = model.FeatureInfo.Count - 1;
        return Compute(x => model.ForwardIntermediates(x, [last])[0], inputs, gradient, progress, cancel);
    }

    /// <summary>
    /// RepLKNet's display and statistics scaling (<c>erf/analyze_erf.py</c>): <c>log10(v + 1)</c>, divided by its maximum
    /// (all zeros stay zeros).
    /// </summary>
    public static double[] LogScaled(IReadOnlyList<double> values)
    {
        var r = values.Select(v => Math.Log10(Math.Max(v, 0) + 1)).ToArray();
        double max = r.Length == 0 ? 0 : r.Max();
        if (max > 0) for (int i = 0; i < r.Length; i++) r[i] /= max;
        return r;
    }

    /// <summary>
    /// For each threshold t, the smallest centred square of odd side 2i+1 (i = 1 … h/2 − 1, centred on (h/2, w/2)) whose
    /// sum exceeds t times the total of <paramref name="data"/> (H·W, row-major), and its area over H·W — the reference
    /// scripts' <c>get_rectangle</c>. Apply it to <see cref="LogScaled"/> data to reproduce their printed figures.
    /// </summary>
    public static IReadOnlyList<AreaRatio> AreaRatios(IReadOnlyList<double> data, int height, int width, IEnumerable<double>? thresholds = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (height < 1 || width < 1 || data.Count != height * width)
            throw new ArgumentException($"data has {data.Count} values; expected {height}·{width}.", nameof(data));
        double total = data.Sum();
        // Prefix sums make every square O(1).
        var prefix = new double[(height + 1) * (width + 1)];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                prefix[(y + 1) * (width + 1) + x + 1] = data[y * width + x] + prefix[y * (width + 1) + x + 1]
                                                        + prefix[(y + 1) * (width + 1) + x] - prefix[y * (width + 1) + x];
        double Box(int y0, int y1, int x0, int x1)   // rows y0..y1-1, columns x0..x1-1, clipped to the map
        {
            (y0, y1, x0, x1) = (Math.Max(y0, 0), Math.Min(y1, height), Math.Max(x0, 0), Math.Min(x1, width));
            return prefix[y1 * (width + 1) + x1] - prefix[y0 * (width + 1) + x1] - prefix[y1 * (width + 1) + x0] + prefix[y0 * (width + 1) + x0];
        }
        var result = new List<AreaRatio>();
        foreach (double t in thresholds ?? Thresholds)
        {
            AreaRatio found = new(t, null, null);
            for (int i = 1; i < height / 2; i++)
            {
                double s = Box(height / 2 - i, height / 2 + i + 1, width / 2 - i, width / 2 + i + 1);
                if (total > 0 && s / total > t)
                {
                    int side = 2 * i + 1;
                    found = new AreaRatio(t, side, (double)side / height * side / width);
                    break;
                }
            }
            result.Add(found);
        }
        return result;
    }
}
