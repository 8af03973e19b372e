namespace VisionSsm.Segmentation.Metrics;

/// <summary>
/// Segmentation metrics as fractions in [0, 1] (mmseg prints them ×100): per-class IoU and accuracy (NaN for a class
/// that cannot be scored, see <see cref="ConfusionMatrix.Compute"/>), overall pixel accuracy aAcc, and the means over
/// scored classes mIoU and mAcc.
/// </summary>
public sealed record SegmentationScores(IReadOnlyList<double> IoU, IReadOnlyList<double> Accuracy, double AAcc, double MIoU, double MAcc)
{
    /// <summary>A table: one line per class (name, IoU %, Acc %; "nan" where unscored) then the summary line.</summary>
    public string Format(IReadOnlyList<string> classNames)
    {
        if (classNames.Count != IoU.Count) throw new ArgumentException($"{classNames.Count} class names for {IoU.Count} classes.", nameof(classNames));
        static string P(double v) => double.IsNaN(v) ? "nan" : (100 * v).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        int w = Math.Max(5, classNames.Max(n => n.Length));
        var lines = new List<string> { $"{"class".PadRight(w)}  {"IoU",7}  {"Acc",7}" };
        for (int c = 0; c < IoU.Count; c++) lines.Add($"{classNames[c].PadRight(w)}  {P(IoU[c]),7}  {P(Accuracy[c]),7}");
        lines.Add($"aAcc {P(AAcc)}  mIoU {P(MIoU)}  mAcc {P(MAcc)}");
        return string.Join(Environment.NewLine, lines);
    }
}
