namespace VisionSsm.Training;

/// <remarks>CpuSeconds: process CPU time of the epoch (training + evaluation); with one thread, about the quiet-machine wall time.</remarks>
/// <summary>One row of a run's metrics (metrics.csv / metrics.jsonl): training figures of the epoch and test figures after it.</summary>
public sealed record EpochMetrics(
    int Epoch, long Step, double Lr, double TrainLoss, double TrainTop1,
    double TestLoss, double TestTop1, double TestTop5, double? EmaTop1, double? EmaTop5,
    double EpochSeconds, double ImagesPerSecond, long RssBytes, double CpuSeconds = 0)
{
    public static readonly string[] Columns =
        ["epoch", "step", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "ema_top1", "ema_top5",
         "epoch_seconds", "img_per_s", "rss_mb", "cpu_seconds"];

    public string ToCsv()
    {
        static string F(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        static string O(double? v) => v is null ? "" : F(v.Value);
        return string.Join(",", Epoch, Step, F(Lr), F(TrainLoss), F(TrainTop1), F(TestLoss), F(TestTop1), F(TestTop5), O(EmaTop1), O(EmaTop5),
            EpochSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture),
            ImagesPerSecond.ToString("F1", System.Globalization.CultureInfo.InvariantCulture), RssBytes / (1 << 20),
            CpuSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
    }
}
