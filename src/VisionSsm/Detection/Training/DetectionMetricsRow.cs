namespace VisionSsm.Detection.Training;

/// <summary>
/// One evaluation of a detection run: position, lr, mean training losses since the previous row (total and each of
/// the detector's named losses), the 12 COCO numbers for boxes and masks (percent; pycocotools' order: AP, AP50, AP75,
/// APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl), timings, resident memory and process CPU seconds of training.
/// </summary>
public sealed record DetectionMetricsRow(int Epoch, long Iteration, double Lr, double TrainLoss, IReadOnlyDictionary<string, double> Losses,
    double[] Box, double[]? Mask, double TrainSeconds, double ImagesPerSecond, double EvalSeconds, long RssBytes, double CpuSeconds);

/// <summary>A progress report after a training iteration.</summary>
public sealed record DetectionProgress(long Step, long TotalSteps, int Epoch, double Loss, IReadOnlyDictionary<string, double> Losses, double Lr,
    double ImagesPerSecond, TimeSpan Eta);

/// <summary>The outcome of <see cref="DetectionTrainer.Run"/>.</summary>
public sealed record DetectionTrainResult(bool Completed, IReadOnlyList<DetectionMetricsRow> History, DetectionEvalResult? FinalTest, string RunPath, long Steps);
