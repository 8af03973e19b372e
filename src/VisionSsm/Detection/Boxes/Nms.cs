using static TorchSharp.torch;

namespace VisionSsm.Detection.Boxes;

/// <summary>
/// Greedy non-maximum suppression with torchvision's semantics (<c>ops/boxes.py</c> <c>nms</c>,
/// <c>csrc/ops/cpu/nms_kernel.cpp</c>): visit boxes by decreasing score; keep a box unless a kept box overlaps it with
/// IoU strictly greater than the threshold. Returns the kept indices (int64) by decreasing score. Equal scores keep
/// their input order (a stable sort; torchvision's order among exact ties is unspecified). IoU is computed in double.
/// </summary>
public static class Nms
{
    /// <summary>Indices kept by greedy NMS of <paramref name="boxes"/> (N, 4) with <paramref name="scores"/> (N).</summary>
    public static Tensor Apply(Tensor boxes, Tensor scores, double iouThreshold)
    {
        var (b, s) = Read(boxes, scores);
        return tensor(Greedy(b, s, iouThreshold), device: boxes.device);
    }

    /// <summary>
    /// Class-wise NMS: boxes of different <paramref name="labels"/> never suppress each other. Done with the
    /// coordinate-offset trick of torchvision's <c>batched_nms</c> and mmcv's <c>batched_nms</c>: shift each box by
    /// label · span so that classes occupy disjoint regions, then run one NMS. The span is (max − min + 1) of all
    /// coordinates (torchvision uses max + 1, which assumes coordinates ≥ 0); shifts do not change IoUs.
    /// </summary>
    public static Tensor Batched(Tensor boxes, Tensor scores, Tensor labels, double iouThreshold)
    {
        var (b, s) = Read(boxes, scores);
        var l = ReadLabels(labels, s.Length);
        if (s.Length == 0) return tensor(Array.Empty<long>(), device: boxes.device);
        double min = b.Min(), max = b.Max(), span = max - min + 1;
        var shifted = new double[b.Length];
        for (int i = 0; i < s.Length; i++)
            for (int j = 0; j < 4; j++) shifted[4 * i + j] = b[4 * i + j] + l[i] * span;
        return tensor(Greedy(shifted, s, iouThreshold), device: boxes.device);
    }

    /// <summary>
    /// The brute-force twin of <see cref="Batched"/> (and of <see cref="Apply"/> with one label): the full IoU matrix
    /// from <see cref="BoxOps.PairwiseIou"/>, then box i (in score order) is kept iff no earlier kept box of its label
    /// has IoU &gt; threshold with it.
    /// </summary>
    public static Tensor Reference(Tensor boxes, Tensor scores, Tensor? labels, double iouThreshold)
    {
        var (_, s) = Read(boxes, scores);
        int n = s.Length;
        var l = labels is null ? new long[n] : ReadLabels(labels, n);
        double[] iou;
        using (var b64 = boxes.to(ScalarType.Float64))
        using (var m = BoxOps.PairwiseIou(b64, b64))
            iou = HostArrays.Doubles(m);
        var order = Enumerable.Range(0, n).OrderByDescending(i => s[i]).ToArray();
        var kept = new List<long>();
        foreach (int i in order)
            if (!kept.Any(k => l[k] == l[i] && iou[k * n + i] > iouThreshold)) kept.Add(i);
        return tensor(kept.ToArray(), device: boxes.device);
    }

    static long[] Greedy(double[] b, double[] s, double thr)
    {
        int n = s.Length;
        var order = Enumerable.Range(0, n).OrderByDescending(i => s[i]).ToArray(); // LINQ's OrderBy is stable
        var area = new double[n];
        for (int i = 0; i < n; i++) area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
        var suppressed = new bool[n];
        var keep = new List<long>();
        for (int a = 0; a < n; a++)
        {
            int i = order[a];
            if (suppressed[i]) continue;
            keep.Add(i);
            double x1 = b[4 * i], y1 = b[4 * i + 1], x2 = b[4 * i + 2], y2 = b[4 * i + 3];
            for (int c = a + 1; c < n; c++)
            {
                int j = order[c];
                if (suppressed[j]) continue;
                double w = Math.Max(0, Math.Min(x2, b[4 * j + 2]) - Math.Max(x1, b[4 * j]));
                double h = Math.Max(0, Math.Min(y2, b[4 * j + 3]) - Math.Max(y1, b[4 * j + 1]));
                double inter = w * h;
                if (inter / (area[i] + area[j] - inter) > thr) suppressed[j] = true;
            }
        }
        return keep.ToArray();
    }

    static (double[] Boxes, double[] Scores) Read(Tensor boxes, Tensor scores)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        if (scores.dim() != 1 || scores.shape[0] != boxes.shape[0])
            throw new ArgumentException($"scores must be (N) with N = {boxes.shape[0]} boxes, got shape [{string.Join(", ", scores.shape)}]", nameof(scores));
        var sa = HostArrays.Doubles(scores);
        if (sa.Any(double.IsNaN)) throw new ArgumentException("scores contain NaN", nameof(scores));
        return (HostArrays.Doubles(boxes), sa);
    }

    static long[] ReadLabels(Tensor labels, int n)
    {
        if (labels.dim() != 1 || labels.shape[0] != n)
            throw new ArgumentException($"labels must be (N) with N = {n}, got shape [{string.Join(", ", labels.shape)}]", nameof(labels));
        if (labels.is_floating_point()) throw new ArgumentException($"labels must be integers, got {labels.dtype}", nameof(labels));
        var a = HostArrays.Longs(labels);
        if (a.Any(v => v < 0)) throw new ArgumentException("labels must be >= 0", nameof(labels));
        return a;
    }
}
