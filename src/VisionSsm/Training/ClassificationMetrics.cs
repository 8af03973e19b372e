using System.Text;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// Accumulates top-1/top-5 accuracy, per-class accuracy and the confusion matrix (rows = true class, columns =
/// predicted) over evaluation batches, as timm's <c>validate.py</c> reports them.
/// </summary>
public sealed class ClassificationMetrics
{
    readonly long[,] confusion;
    long top5Correct;
    double lossSum;

    public IReadOnlyList<string> Classes { get; }
    public int NumClasses => Classes.Count;
    public long Count { get; private set; }

    public ClassificationMetrics(IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count < 1) throw new ArgumentException("expected at least one class", nameof(classes));
        Classes = classes;
        confusion = new long[classes.Count, classes.Count];
    }

    /// <summary>Adds a batch: <paramref name="logits"/> (B, classes), <paramref name="labels"/> int64 (B), and the batch's mean loss.</summary>
    public void Add(Tensor logits, Tensor labels, double meanLoss = double.NaN)
    {
        if (logits.dim() != 2 || logits.shape[1] != NumClasses)
            throw new ArgumentException($"logits has shape [{string.Join(", ", logits.shape)}]; expected (batch, {NumClasses}).", nameof(logits));
        if (labels.dim() != 1 || labels.shape[0] != logits.shape[0])
            throw new ArgumentException($"labels has shape [{string.Join(", ", labels.shape)}]; expected ({logits.shape[0]}).", nameof(labels));
        using var scope = NewDisposeScope();
        int k = (int)Math.Min(5, NumClasses);
        var top = logits.detach().topk(k, dim: 1).indexes.cpu().to(int64);
        var topK = top.data<long>().ToArray();
        var truth = labels.cpu().to(int64).data<long>().ToArray();
        for (int i = 0; i < truth.Length; i++)
        {
            long t = truth[i];
            if (t < 0 || t >= NumClasses) throw new ArgumentException($"label {t} at index {i} is outside 0..{NumClasses - 1}.", nameof(labels));
            confusion[t, topK[i * k]]++;
            for (int j = 0; j < k; j++) if (topK[i * k + j] == t) { top5Correct++; break; }
        }
        if (!double.IsNaN(meanLoss)) lossSum += meanLoss * truth.Length;
        Count += truth.Length;
    }

    public long Correct { get { long c = 0; for (int i = 0; i < NumClasses; i++) c += confusion[i, i]; return c; } }
    public double Top1 => Count == 0 ? 0 : 100.0 * Correct / Count;
    public double Top5 => Count == 0 ? 0 : 100.0 * top5Correct / Count;
    public double MeanLoss => Count == 0 ? double.NaN : lossSum / Count;

    /// <summary>confusion[true, predicted].</summary>
    public long this[int truth, int predicted] => confusion[truth, predicted];

    /// <summary>Per-class accuracy in percent (recall); NaN for classes without samples.</summary>
    public double[] PerClassAccuracy()
    {
        var result = new double[NumClasses];
        for (int i = 0; i < NumClasses; i++)
        {
            long row = 0;
            for (int j = 0; j < NumClasses; j++) row += confusion[i, j];
            result[i] = row == 0 ? double.NaN : 100.0 * confusion[i, i] / row;
        }
        return result;
    }

    /// <summary>A plain-text report: top-1/top-5, per-class accuracy and the confusion matrix.</summary>
    public string Format(string title = "test")
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{title}: top-1 {Top1:F2}%  top-5 {Top5:F2}%  ({Correct}/{Count})" + (double.IsNaN(MeanLoss) ? "" : $"  loss {MeanLoss:F4}"));
        sb.AppendLine("per-class accuracy:");
        var perClass = PerClassAccuracy();
        int w = Math.Max(5, Classes.Max(c => c.Length));
        for (int i = 0; i < NumClasses; i++) sb.AppendLine($"  {i,3} {Classes[i].PadRight(w)} {perClass[i],7:F2}%");
        sb.AppendLine("confusion matrix (rows = true class, columns = predicted):");
        int cw = Math.Max(5, Count.ToString().Length + 1);
        sb.Append("     ");
        for (int j = 0; j < NumClasses; j++) sb.Append(j.ToString().PadLeft(cw));
        sb.AppendLine();
        for (int i = 0; i < NumClasses; i++)
        {
            sb.Append($"  {i,3}");
            for (int j = 0; j < NumClasses; j++) sb.Append(confusion[i, j].ToString().PadLeft(cw));
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
