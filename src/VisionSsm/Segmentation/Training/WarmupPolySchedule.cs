namespace VisionSsm.Segmentation.Training;

/// <summary>
/// mmengine's <c>LinearLR</c> warmup then <c>PolyLR</c>, stepped per iteration (mmseg's UperNet schedules). For step t
/// (0-based), W warmup steps, T total: <c>t &lt; W: lr = base·(r + (1 − r)·t/W)</c> with r the warmup ratio;
/// <c>t ≥ W: lr = (base − min)·(1 − (t − W)/(T − W))^power + min</c>.
/// </summary>
public sealed class WarmupPolySchedule
{
    public double BaseLr { get; }
    public long TotalSteps { get; }
    public long WarmupSteps { get; }
    public double WarmupRatio { get; }
    public double Power { get; }
    public double MinLr { get; }

    public WarmupPolySchedule(double baseLr, long totalSteps, long warmupSteps, double warmupRatio = 1e-6, double power = 1.0, double minLr = 0)
    {
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "expected ≥ 1 step");
        if (warmupSteps < 0 || warmupSteps > totalSteps) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"expected 0..{totalSteps}");
        if (!(baseLr > 0)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "expected a positive learning rate");
        (BaseLr, TotalSteps, WarmupSteps, WarmupRatio, Power, MinLr) = (baseLr, totalSteps, warmupSteps, warmupRatio, power, minLr);
    }

    public double At(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "expected ≥ 0");
        if (step < WarmupSteps) return BaseLr * (WarmupRatio + (1 - WarmupRatio) * step / WarmupSteps);
        if (step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return (BaseLr - MinLr) * Math.Pow(1 - progress, Power) + MinLr;
    }
}
