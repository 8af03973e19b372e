namespace VisionSsm.Training;

/// <summary>A progress report after a training step (for the progress bar / log lines).</summary>
public sealed record TrainingProgress(
    int Epoch, int Epochs, int StepInEpoch, int StepsPerEpoch, long Step, long TotalSteps,
    double Loss, double Top1, double Lr, double ImagesPerSecond, TimeSpan Eta);

/// <summary>Thrown when the loss becomes NaN or ±Inf; names the step. The last good checkpoint is kept.</summary>
public sealed class NonFiniteLossException(long step, int epoch, int batch, double loss)
    : Exception($"loss is {loss} at step {step} (epoch {epoch + 1}, batch {batch + 1}); stopping. The last good checkpoint is kept.")
{
    public long Step { get; } = step;
}

/// <summary>The outcome of <see cref="Trainer.Run"/>.</summary>
public sealed record TrainingResult(bool Completed, IReadOnlyList<EpochMetrics> History, ClassificationMetrics? FinalTest,
    ClassificationMetrics? FinalEmaTest, string RunPath, long Steps, long SkippedItems);
