using TorchSharp;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Metrics;

/// <summary>
/// Accumulates a K×K confusion matrix over predicted and ground-truth label maps (row = ground truth, column =
/// prediction), leaving out pixels whose ground truth is the ignore label, as mmseg's <c>intersect_and_union</c>
/// does. <see cref="Compute"/> turns it into mIoU, per-class IoU and accuracy, aAcc and mAcc
/// (<see cref="SegmentationScores"/>). Not thread-safe; merge per-thread matrices with <see cref="Add(ConfusionMatrix)"/>.
/// </summary>
public sealed class ConfusionMatrix
{
    readonly long[] counts;

    public ConfusionMatrix(int numClasses, int ignoreIndex = SegmentationLabels.IgnoreIndex)
    {
        if (numClasses is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected 1 to 4096 classes.");
        NumClasses = numClasses;
        IgnoreIndex = ignoreIndex;
        counts = new long[numClasses * numClasses];
    }

    public int NumClasses { get; }
    public int IgnoreIndex { get; }

    /// <summary>Pixels of ground-truth class <paramref name="truth"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int truth, int predicted] => counts[truth * NumClasses + predicted];

    /// <summary>Counted pixels (ignored ones excluded).</summary>
    public long Total => counts.Sum();

    /// <summary>Adds one prediction/ground-truth pair of equal length (label maps flattened alike).</summary>
    public void Add(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> truth)
    {
        if (predicted.Length != truth.Length)
            throw new ArgumentException($"prediction has {predicted.Length} pixels but the ground truth has {truth.Length}.", nameof(predicted));
        for (int i = 0; i < truth.Length; i++)
        {
            int t = truth[i];
            if (t == IgnoreIndex) continue;
            int p = predicted[i];
            if (t >= NumClasses) throw new ArgumentException($"ground-truth label {t} at pixel {i} is out of range for {NumClasses} classes (ignore label {IgnoreIndex}).", nameof(truth));
            if (p >= NumClasses) throw new ArgumentException($"predicted label {p} at pixel {i} is out of range for {NumClasses} classes.", nameof(predicted));
            counts[t * NumClasses + p]++;
        }
    }

    /// <summary>
    /// Adds a batch of tensors: <paramref name="predicted"/> integer labels of any shape (e.g. argmax over classes,
    /// (B, H, W)) and <paramref name="truth"/> of the same shape. Counted with one bincount, on the tensors' device.
    /// </summary>
    public void Add(Tensor predicted, Tensor truth)
    {
        if (!predicted.shape.SequenceEqual(truth.shape))
            throw new ArgumentException($"prediction shape [{string.Join(", ", predicted.shape)}] differs from the ground truth's [{string.Join(", ", truth.shape)}].", nameof(predicted));
        using var scope = NewDisposeScope();
        var t = truth.flatten().to(ScalarType.Int64);
        var p = predicted.flatten().to(ScalarType.Int64);
        using var ignore = ((long)IgnoreIndex).ToScalar();   // owned Scalars (Runtime/Scalars.cs)
        using var k = ((long)NumClasses).ToScalar();
        var keep = t.ne(ignore);
        t = t.masked_select(keep);
        p = p.masked_select(keep);
        if (t.numel() == 0) return;
        long tMin = t.min().item<long>(), tMax = t.max().item<long>(), pMin = p.min().item<long>(), pMax = p.max().item<long>();
        if (tMin < 0 || tMax >= NumClasses)
            throw new ArgumentException($"ground-truth labels span [{tMin}, {tMax}]; expected 0..{NumClasses - 1} or {IgnoreIndex} (ignore).", nameof(truth));
        if (pMin < 0 || pMax >= NumClasses)
            throw new ArgumentException($"predicted labels span [{pMin}, {pMax}]; expected 0..{NumClasses - 1}.", nameof(predicted));
        var idx = t.mul(k).add_(p, Scalars.One);
        var bins = idx.bincount(null, (long)NumClasses * NumClasses).cpu().data<long>().ToArray();
        for (int i = 0; i < bins.Length; i++) counts[i] += bins[i];
    }

    /// <summary>Adds another matrix of the same class count.</summary>
    public void Add(ConfusionMatrix other)
    {
        if (other.NumClasses != NumClasses) throw new ArgumentException($"cannot add a {other.NumClasses}-class matrix to a {NumClasses}-class one.", nameof(other));
        for (int i = 0; i < counts.Length; i++) counts[i] += other.counts[i];
    }

    public void Reset() => Array.Clear(counts);

    /// <summary>
    /// mmseg's <c>total_area_to_metrics</c>: per class, IoU = TP / (TP + FP + FN) and Acc = TP / (TP + FN); aAcc =
    /// ΣTP / Σ(TP + FN). A class with no pixels in the ground truth or the predictions has IoU NaN, and one absent
    /// from the ground truth has Acc NaN; mIoU and mAcc average the non-NaN entries (numpy's <c>nanmean</c>).
    /// </summary>
    public SegmentationScores Compute()
    {
        int k = NumClasses;
        var iou = new double[k];
        var acc = new double[k];
        long tpSum = 0, labelSum = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = this[c, c], label = 0, pred = 0;
            for (int j = 0; j < k; j++) { label += this[c, j]; pred += this[j, c]; }
            long union = label + pred - tp;
            iou[c] = union == 0 ? double.NaN : (double)tp / union;
            acc[c] = label == 0 ? double.NaN : (double)tp / label;
            tpSum += tp;
            labelSum += label;
        }
        return new SegmentationScores(iou, acc, labelSum == 0 ? double.NaN : (double)tpSum / labelSum, NanMean(iou), NanMean(acc));
    }

    /// <summary>
    /// Row-normalised confusion in percent: entry (t, p) is the share of ground-truth class t's pixels predicted as p
    /// (NaN for a class absent from the ground truth). Row t's diagonal is class t's accuracy.
    /// </summary>
    public double[,] RowPercent()
    {
        int k = NumClasses;
        var r = new double[k, k];
        for (int t = 0; t < k; t++)
        {
            long label = 0;
            for (int j = 0; j < k; j++) label += this[t, j];
            for (int j = 0; j < k; j++) r[t, j] = label == 0 ? double.NaN : 100.0 * this[t, j] / label;
        }
        return r;
    }

    /// <summary><see cref="RowPercent"/> as a table (rows: ground truth, columns: prediction, headed by class index).</summary>
    public string Format(IReadOnlyList<string> classNames)
    {
        if (classNames.Count != NumClasses) throw new ArgumentException($"{classNames.Count} class names for {NumClasses} classes.", nameof(classNames));
        var r = RowPercent();
        int w = Math.Max(5, classNames.Max(n => n.Length));
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var lines = new List<string> { "truth \\ predicted (% of the row's pixels)".PadRight(w + 4) + string.Concat(Enumerable.Range(0, NumClasses).Select(j => j.ToString(inv).PadLeft(6))) };
        for (int t = 0; t < NumClasses; t++)
            lines.Add($"{t,2} {classNames[t].PadRight(w + 1)}" + string.Concat(Enumerable.Range(0, NumClasses).Select(j =>
                (double.IsNaN(r[t, j]) ? "nan" : r[t, j].ToString("F1", inv)).PadLeft(6))));
        return string.Join(Environment.NewLine, lines);
    }

    static double NanMean(double[] v)
    {
        double s = 0; int n = 0;
        foreach (var x in v) if (!double.IsNaN(x)) { s += x; n++; }
        return n == 0 ? double.NaN : s / n;
    }
}
