using System.Globalization;
using System.Text;
using VisionSsm.Data;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>One row of a <see cref="ResolutionStudy"/>: the input side and the test metrics there.</summary>
public sealed record ResolutionRow(int Size, double Top1, double Top5, double Loss, bool Trained);

/// <summary>
/// Accuracy of a trained model evaluated at other input sizes without fine-tuning (VMamba §5.4 "Computational
/// Efficiency with Increasing Resolutions", Table 4, Fig. 11). At each size the model is rebuilt for that size and given
/// the trained weights; a position embedding is resampled to the new patch grid as official checkpoints are
/// (<see cref="PretrainedWeights.Load"/>); the test images are resized to the size with the training preprocessing.
/// </summary>
public static class ResolutionStudy
{
    /// <summary>Builds <paramref name="model"/>'s zoo variant at input side <paramref name="size"/> with its weights
    /// (resampled where a family has position embeddings). Clear ArgumentException when the family cannot take the size.</summary>
    public static VisionModel AtSize(InferenceModel model, int size, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (size < 1) throw new ArgumentException($"--size {size}: expected a positive image side.", nameof(size));
        var entry = ModelZoo.Get(model.ModelName);
        VisionModel net;
        try
        {
            net = entry.Factory(new ModelOptions(model.Net.NumClasses, model.Preprocessing.Channels, size, 0, device));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new ArgumentException($"--size {size}: model '{model.ModelName}' cannot be built for {size}×{size} inputs: {e.Message}", "size", e);
        }
        try
        {
            var state = model.Net.state_dict();
            PretrainedWeights.Load(net, state.ToDictionary(kv => kv.Key, kv => kv.Value));
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            net.Dispose();
            throw new ArgumentException($"--size {size}: the weights of '{model.ModelName}' trained at {model.Preprocessing.ImageSize}² do not fit " +
                                        $"a {size}² model (size-dependent parameters without a resampling rule): {e.Message}", "size", e);
        }
        net.eval();
        return net;
    }

    /// <summary>ArgumentException unless <paramref name="sizes"/> is a non-empty list of positive sides.</summary>
    public static void CheckSizes(IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Count == 0) throw new ArgumentException("--size: expected at least one image side, e.g. 28,56,112.", nameof(sizes));
        foreach (int s in sizes)
            if (s < 1) throw new ArgumentException($"--size {s}: expected positive image sides, e.g. 28,56,112.", nameof(sizes));
    }

    /// <summary>
    /// Evaluates <paramref name="model"/> on <paramref name="test"/> at each of <paramref name="sizes"/>.
    /// <paramref name="progress"/> gets (size, row) as each size finishes; <paramref name="images"/> gets (size, images
    /// done, images in all) after each batch.
    /// </summary>
    public static IReadOnlyList<ResolutionRow> Run(InferenceModel model, IImageDataset test, IReadOnlyList<int> sizes, int batchSize = 256,
        Device? device = null, Action<ResolutionRow>? progress = null, CancellationToken cancel = default,
        Action<int, int, int>? images = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(sizes);
        CheckSizes(sizes);
        var rows = new List<ResolutionRow>();
        foreach (int size in sizes)
        {
            bool trained = size == model.Preprocessing.ImageSize;
            using var net = trained ? null : AtSize(model, size, device);
            var pre = model.Preprocessing with { ImageSize = size };
            var metrics = Evaluation.Evaluate(net ?? model.Net, test, pre.EvalTransform(), batchSize, device, model.Classes, cancel,
                progress: images is null ? null : (done, total) => images(size, done, total));
            var row = new ResolutionRow(size, metrics.Top1, metrics.Top5, metrics.MeanLoss, trained);
            rows.Add(row);
            progress?.Invoke(row);
        }
        return rows;
    }

    /// <summary>A text table: size, top-1, top-5, loss, and the change of top-1 from the trained size.</summary>
    public static string Format(IReadOnlyList<ResolutionRow> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var trained = rows.FirstOrDefault(r => r.Trained);
        var sb = new StringBuilder();
        sb.AppendLine("  size   top-1 %   top-5 %    loss   Δtop-1");
        foreach (var r in rows)
        {
            string delta = trained is null ? "" : (r.Top1 - trained.Top1).ToString("+0.00;-0.00;0.00", inv);
            sb.AppendLine(string.Format(inv, "{0,6}{1,10:F2}{2,10:F2}{3,8:F3}{4,9}{5}", r.Size, r.Top1, r.Top5, r.Loss, delta, r.Trained ? "  (trained)" : ""));
        }
        return sb.ToString();
    }

    /// <summary>Accuracy against input side (VMamba Fig. 11's accuracy panel), as a PNG.</summary>
    public static void SavePlot(IReadOnlyList<ResolutionRow> rows, string path, string title)
    {
        var plot = new ScottPlot.Plot();
        plot.Title(title);
        plot.XLabel("input side (px)");
        plot.YLabel("top-1 accuracy (%)");
        var ordered = rows.OrderBy(r => r.Size).ToList();
        var line = plot.Add.Scatter(ordered.Select(r => (double)r.Size).ToArray(), ordered.Select(r => r.Top1).ToArray());
        line.LegendText = "top-1";
        var trained = ordered.FirstOrDefault(r => r.Trained);
        if (trained is not null)
        {
            var m = plot.Add.Marker(trained.Size, trained.Top1);
            m.LegendText = "trained size";
            m.Size = 12;
        }
        plot.ShowLegend();
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 800, 500));
    }
}
