using VisionSsm.Runtime;
using ScottPlot;

namespace VisionSsm.Training;

/// <summary>One line of a curves PNG: its legend, one value per x, and whether it uses the right (percent) axis.</summary>
public sealed record CurveSeries(string Label, IReadOnlyList<double> Values, bool RightAxis);

/// <summary>The training-curve PNG of a run: losses on the left axis, accuracies (%) on the right, per epoch.</summary>
public static class TrainingCurves
{
    public static void Save(IReadOnlyList<EpochMetrics> rows, string path, string title)
    {
        var series = new List<CurveSeries>
        {
            new("train loss", rows.Select(r => r.TrainLoss).ToArray(), false),
            new("test loss", rows.Select(r => r.TestLoss).ToArray(), false),
            new("train top-1", rows.Select(r => r.TrainTop1).ToArray(), true),
            new("test top-1", rows.Select(r => r.TestTop1).ToArray(), true),
        };
        if (rows.Any(r => r.EmaTop1 is not null)) series.Add(new("EMA top-1", rows.Select(r => r.EmaTop1 ?? double.NaN).ToArray(), true));
        Save(path, title, "epoch", rows.Select(r => (double)r.Epoch).ToArray(), series);
    }

    /// <summary>Any run's curves: <paramref name="series"/> over <paramref name="x"/>, losses on the left axis, percentages on the right.</summary>
    public static void Save(string path, string title, string xLabel, IReadOnlyList<double> x, IReadOnlyList<CurveSeries> series,
        string leftLabel = "loss", string rightLabel = "accuracy (%)")
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(leftLabel);
        plot.Axes.Right.Label.Text = rightLabel;
        double[] xs = x.ToArray();
        foreach (var c in series)
        {
            var s = plot.Add.Scatter(xs, c.Values.ToArray());
            s.LegendText = c.Label;
            if (c.RightAxis) s.Axes.YAxis = plot.Axes.Right;
        }
        plot.ShowLegend(Alignment.MiddleRight);
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 900, 540));
    }
}
