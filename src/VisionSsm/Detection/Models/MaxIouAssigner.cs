using VisionSsm.Detection.Boxes;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Models;

/// <summary>
/// mmdetection's <c>MaxIoUAssigner</c> (<c>mmdet/models/task_modules/assigners/max_iou_assigner.py</c>): each box gets
/// the gt it overlaps most. Result per box: −1 ignored, 0 negative, k + 1 the k-th gt.
/// <list type="number">
/// <item>every box starts at −1; a box whose best IoU is in [0, <see cref="NegativeIou"/>) becomes negative;</item>
/// <item>a box whose best IoU is ≥ <see cref="PositiveIou"/> takes its best gt (the first on ties);</item>
/// <item>low-quality matches (<see cref="MatchLowQuality"/>): for each gt in order whose best IoU over all boxes is
/// ≥ <see cref="MinPositiveIou"/>, every box reaching that best IoU is assigned to it (a later gt overwrites; mmdet's
/// <c>gt_max_assign_all</c>);</item>
/// <item>with no gts every box is negative; with <see cref="IgnoreIof"/> &gt; 0, boxes whose intersection with an ignored
/// (crowd) box exceeds that fraction of their own area are ignored (IoU set to −1 before the steps above).</item>
/// </list>
/// IoU uses <see cref="BoxOps.PairwiseIou"/> in double precision.
/// </summary>
public sealed record MaxIouAssigner(double PositiveIou, double NegativeIou, double MinPositiveIou, bool MatchLowQuality = true, double IgnoreIof = -1)
{
    /// <summary>Assignment (N) of <paramref name="boxes"/> (N, 4) to <paramref name="gts"/> (K, 4).</summary>
    public long[] Assign(Tensor boxes, Tensor gts, Tensor? ignored = null)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        BoxOps.CheckBoxes(gts, nameof(gts));
        int n = (int)boxes.shape[0], k = (int)gts.shape[0];
        var assigned = new long[n];
        if (n == 0 || k == 0) return assigned;   // no gts: all negative
        double[] iou;
        using (var b = boxes.to(ScalarType.Float64))
        using (var g = gts.to(ScalarType.Float64))
        using (var m = BoxOps.PairwiseIou(g, b))
            iou = HostArrays.Doubles(m);           // (K, N), row per gt
        if (IgnoreIof > 0 && ignored is not null && ignored.shape[0] > 0)
        {
            var ignore = IgnoredBoxes(boxes, ignored);
            for (int j = 0; j < n; j++)
                if (ignore[j]) for (int i = 0; i < k; i++) iou[(long)i * n + j] = -1;
        }
        var best = new double[n];
        var arg = new int[n];
        for (int j = 0; j < n; j++)
        {
            double bm = double.NegativeInfinity; int ba = 0;
            for (int i = 0; i < k; i++)
            {
                double v = iou[(long)i * n + j];
                if (v > bm) { bm = v; ba = i; }
            }
            best[j] = bm; arg[j] = ba;
            assigned[j] = -1;
            if (bm >= 0 && bm < NegativeIou) assigned[j] = 0;
            if (bm >= PositiveIou) assigned[j] = ba + 1;
        }
        if (MatchLowQuality)
            for (int i = 0; i < k; i++)
            {
                double gm = double.NegativeInfinity;
                for (int j = 0; j < n; j++) gm = Math.Max(gm, iou[(long)i * n + j]);
                if (!(gm >= MinPositiveIou)) continue;
                for (int j = 0; j < n; j++)
                    if (iou[(long)i * n + j] == gm) assigned[j] = i + 1;
            }
        return assigned;
    }

    /// <summary>Boxes whose intersection with some ignored box exceeds <see cref="IgnoreIof"/> of the box's area (mmdet's IoF).</summary>
    bool[] IgnoredBoxes(Tensor boxes, Tensor ignored)
    {
        var b = HostArrays.Doubles(boxes);
        var g = HostArrays.Doubles(ignored);
        int n = b.Length / 4, m = g.Length / 4;
        var result = new bool[n];
        for (int j = 0; j < n; j++)
        {
            double area = Math.Max(0, b[4 * j + 2] - b[4 * j]) * Math.Max(0, b[4 * j + 3] - b[4 * j + 1]);
            if (area <= 0) continue;
            for (int i = 0; i < m && !result[j]; i++)
            {
                double w = Math.Min(b[4 * j + 2], g[4 * i + 2]) - Math.Max(b[4 * j], g[4 * i]);
                double h = Math.Min(b[4 * j + 3], g[4 * i + 3]) - Math.Max(b[4 * j + 1], g[4 * i + 1]);
                if (w > 0 && h > 0 && w * h / area > IgnoreIof) result[j] = true;
            }
        }
        return result;
    }
}
