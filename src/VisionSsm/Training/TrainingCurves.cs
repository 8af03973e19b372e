using VisionSsm.Runtime;
using ScottPlot;

namespace VisionSsm.Training;

/// <summary>The training-curve PNG of a run: losses on the left axis, accuracies (%) on the right, per epoch.</summary>
public static class TrainingCurves
{
    public static void Save(IReadOnlyList<EpochMetrics> rows, string path, string title)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel("loss");
        plot.Axes.Right.Label.Text = "accuracy (%)";
        double[] x = rows.Select(r => (double)r.Epoch).ToArray();
        void Line(IEnumerable<double> ys, string label, bool right)
        {
            var s = plot.Add.Scatter(x, ys.ToArray());
            s.LegendText = label;
            if (right) s.Axes.YAxis = plot.Axes.Right;
        }
        Line(rows.Select(r => r.TrainLoss), "train loss", false);
        Line(rows.Select(r => r.TestLoss), "test loss", false);
        Line(rows.Select(r => r.TrainTop1), "train top-1", true);
        Line(rows.Select(r => r.TestTop1), "test top-1", true);
        if (rows.Any(r => r.EmaTop1 is not null)) Line(rows.Select(r => r.EmaTop1 ?? double.NaN), "EMA top-1", true);
        plot.ShowLegend(Alignment.MiddleRight);
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 900, 540));
    }
}
