namespace VisionSsm.Training;

/// <summary>
/// Linear warmup then cosine decay, stepped per iteration: timm's <c>CosineLRScheduler</c> with
/// <c>warmup_prefix=True</c> and <c>t_in_epochs=False</c>, as VMamba's <c>build_scheduler</c> uses it
/// (docs/training.md §1). For step t (0-based), W warmup steps and T total steps:
/// <c>t &lt; W: lr = warmup_lr + t·(lr_max − warmup_lr)/W</c>;
/// <c>t ≥ W: lr = min_lr + ½(lr_max − min_lr)(1 + cos(π (t − W)/(T − W)))</c>.
/// </summary>
public sealed class WarmupCosineSchedule
{
    public double BaseLr { get; }
    public double WarmupLr { get; }
    public double MinLr { get; }
    public long WarmupSteps { get; }
    public long TotalSteps { get; }

    public WarmupCosineSchedule(double baseLr, long totalSteps, long warmupSteps, double warmupLr = 1e-6, double minLr = 1e-5)
    {
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "expected ≥ 1 step");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"expected 0 ≤ warmup ≤ total ({totalSteps})");
        if (!(baseLr > 0)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "expected a positive learning rate");
        (BaseLr, WarmupLr, MinLr, WarmupSteps, TotalSteps) = (baseLr, warmupLr, minLr, warmupSteps, totalSteps);
    }

    /// <summary>The learning rate for (0-based) step <paramref name="step"/>; steps past the end keep <see cref="MinLr"/>.</summary>
    public double At(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "expected ≥ 0");
        if (step < WarmupSteps) return WarmupLr + step * (BaseLr - WarmupLr) / WarmupSteps;
        long decaySteps = TotalSteps - WarmupSteps;
        if (decaySteps <= 0 || step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / decaySteps;
        return MinLr + 0.5 * (BaseLr - MinLr) * (1 + Math.Cos(Math.PI * progress));
    }
}
