using System.Globalization;

namespace VisionSsm.Segmentation.Training;

/// <summary>One evaluation of a segmentation run: iteration, lr, mean training loss since the previous row, test scores (%),
/// timings, and the process CPU seconds of training since the previous row (wall time on a shared machine says little).</summary>
public sealed record SegmentationMetricsRow(long Iteration, double Lr, double TrainLoss, double MIoU, double AAcc, double MAcc, double? EmaMIoU,
    double TrainSeconds, double ImagesPerSecond, double EvalSeconds, long RssBytes, double CpuSeconds = 0)
{
    public static readonly string[] Columns =
        ["iteration", "lr", "train_loss", "miou", "aacc", "macc", "ema_miou", "train_seconds", "images_per_second", "eval_seconds", "rss_mib", "cpu_seconds"];

    public string ToCsv()
    {
        static string F(double v, string f = "G6") => v.ToString(f, CultureInfo.InvariantCulture);
        return string.Join(",", Iteration.ToString(CultureInfo.InvariantCulture), F(Lr), F(TrainLoss), F(MIoU, "F2"), F(AAcc, "F2"), F(MAcc, "F2"),
            EmaMIoU is { } e ? F(e, "F2") : "", F(TrainSeconds, "F1"), F(ImagesPerSecond, "F1"), F(EvalSeconds, "F1"), (RssBytes >> 20).ToString(CultureInfo.InvariantCulture), F(CpuSeconds, "F1"));
    }
}

/// <summary>A progress report after a training iteration.</summary>
public sealed record SegmentationProgress(long Step, long TotalSteps, double Loss, double Lr, double ImagesPerSecond, TimeSpan Eta);

/// <summary>The outcome of <see cref="SegmentationTrainer.Run"/>.</summary>
public sealed record SegmentationTrainResult(bool Completed, IReadOnlyList<SegmentationMetricsRow> History, SegmentationEvalResult? FinalTest,
    SegmentationEvalResult? FinalEma, string RunPath, long Steps);
