using VisionSsm.Data;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>The PNGs of <c>vssm attention</c>: query maps, diagonal and roll-out; and the per-route matrices.</summary>
public static class AttentionFigures
{
    /// <summary>Writes <c>attention_block{I}.png</c> and <c>matrices_block{I}.png</c> into <paramref name="directory"/>;
    /// <paramref name="input"/> (the normalised model input) is drawn as the first panel. Returns the paths.</summary>
    public static IReadOnlyList<string> Save(ScanAttentionResult result, ImageSample? input, string directory, string title)
    {
        ArgumentNullException.ThrowIfNull(result);
        var b = result.Block;
        var q = result.Query;
        int i = b.Mixer.Index;
        var panels = new List<HeatmapPanel>();
        if (input is not null) panels.Add(new HeatmapPanel($"{title}: input", Luminance(input), Gray: true));
        foreach (var (name, map) in b.Routes) panels.Add(new HeatmapPanel($"{name}: query", result.QueryMap(map), q));
        panels.Add(new HeatmapPanel($"block {i} combined: query {q.Row},{q.Col}", result.QueryMap(b.Combined), q));
        panels.Add(new HeatmapPanel($"block {i} diagonal", result.Diagonal()));
        panels.Add(new HeatmapPanel($"roll-out blocks {result.RolloutMixers[0].Index}..{i}: query", result.QueryMap(result.Rollout), q));
        string maps = Path.Combine(directory, $"attention_block{i}.png");
        HeatmapGrid.Save(maps, panels, columns: Math.Min(4, panels.Count));

        var matrices = b.Routes.Select(r => new HeatmapPanel($"{r.Name} (pixel order)", Pooled(r.Map))).ToList();
        matrices.Add(new HeatmapPanel($"block {i} combined", Pooled(b.Combined)));
        string mats = Path.Combine(directory, $"matrices_block{i}.png");
        HeatmapGrid.Save(mats, matrices, columns: Math.Min(3, matrices.Count), panelSize: 360);
        return [maps, mats];
    }

    /// <summary>A (P, P) matrix as an array, average-pooled to at most 256 rows so large maps stay drawable.</summary>
    static double[,] Pooled(Tensor m)
    {
        using var scope = NewDisposeScope();
        long p = m.shape[0];
        long k = (p + 255) / 256;
        var t = k > 1 ? nn.functional.avg_pool2d(m.unsqueeze(0).unsqueeze(0), k, k, ceil_mode: true).squeeze(0).squeeze(0) : m;
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        return ScanAttention.ToGrid(t.flatten(), rows, cols);
    }

    static double[,] Luminance(ImageSample s)
    {
        var g = new double[s.Height, s.Width];
        int hw = s.Height * s.Width;
        for (int r = 0; r < s.Height; r++)
            for (int c = 0; c < s.Width; c++)
            {
                double v = 0;
                for (int ch = 0; ch < s.Channels; ch++) v += s.Pixels[ch * hw + r * s.Width + c];
                g[r, c] = v / s.Channels;
            }
        return g;
    }
}
