using VisionSsm.Runtime;

namespace VisionSsm.Analysis;

/// <summary>One panel of a <see cref="HeatmapGrid"/>: a title, an h×w array (row 0 at the top) and an optional
/// marked cell (row, column).</summary>
public sealed record HeatmapPanel(string Title, double[,] Values, (int Row, int Col)? Marker = null, bool Gray = false);

/// <summary>A grid of heat maps in one PNG (ScottPlot), for the analysis figures.</summary>
public static class HeatmapGrid
{
    public static void Save(string path, IReadOnlyList<HeatmapPanel> panels, int columns, int panelSize = 320)
    {
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("no panels to draw", nameof(panels));
        columns = Math.Clamp(columns, 1, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        var multi = new ScottPlot.Multiplot();
        ScottPlot.IMultiplotExtensions.AddPlots(multi, panels.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        for (int i = 0; i < panels.Count; i++)
        {
            var panel = panels[i];
            var plot = ScottPlot.IMultiplotExtensions.GetPlot(multi, i);
            int h = panel.Values.GetLength(0), w = panel.Values.GetLength(1);
            var heatmap = plot.Add.Heatmap(panel.Values);
            heatmap.Colormap = panel.Gray ? new ScottPlot.Colormaps.Grayscale() : new ScottPlot.Colormaps.Turbo();
            heatmap.Extent = new ScottPlot.CoordinateRect(0, w, 0, h);   // cell (r, c) spans x c..c+1, y h−r−1..h−r
            if (panel.Marker is { } m)
            {
                var rect = plot.Add.Rectangle(m.Col, m.Col + 1, h - m.Row - 1, h - m.Row);
                rect.FillStyle.Color = ScottPlot.Colors.Transparent;
                rect.LineStyle.Color = ScottPlot.Colors.White;
                rect.LineStyle.Width = 2;
            }
            plot.Axes.SetLimits(0, w, 0, h);
            plot.Axes.Frameless();
            plot.Title(panel.Title, size: 13);                              // after Frameless, which hides the title panel
            plot.HideGrid();
        }
        AtomicFile.WriteVia(path, temp => ScottPlot.IMultiplotExtensions.SavePng(multi, temp, columns * panelSize, rows * (panelSize + 20)));
    }
}
