namespace VisionSsm.Detection.Training;

/// <summary>
/// mmdetection's 1× schedule: mmengine <c>LinearLR</c> over the first W iterations (factor r + (1 − r)·t/W from the
/// warmup ratio r) times <c>MultiStepLR</c> by epoch (factor γ^m, m the number of milestone epochs already reached),
/// stepped per iteration t; epoch e starts at iteration e·(iterations per epoch).
/// </summary>
public sealed class WarmupMultiStepSchedule
{
    public double BaseLr { get; }
    public long WarmupSteps { get; }
    public double WarmupRatio { get; }
    public long StepsPerEpoch { get; }
    public IReadOnlyList<int> Milestones { get; }
    public double Gamma { get; }

    public WarmupMultiStepSchedule(double baseLr, long stepsPerEpoch, long warmupSteps, double warmupRatio, IReadOnlyList<int> milestones, double gamma)
    {
        if (!(baseLr > 0)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "expected a positive learning rate");
        if (stepsPerEpoch < 1) throw new ArgumentOutOfRangeException(nameof(stepsPerEpoch), stepsPerEpoch, "expected ≥ 1");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "expected ≥ 0");
        (BaseLr, StepsPerEpoch, WarmupSteps, WarmupRatio, Milestones, Gamma) = (baseLr, stepsPerEpoch, warmupSteps, warmupRatio, milestones, gamma);
    }

    public double At(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "expected ≥ 0");
        double warm = step < WarmupSteps ? WarmupRatio + (1 - WarmupRatio) * step / WarmupSteps : 1;
        long epoch = step / StepsPerEpoch;
        int reached = Milestones.Count(m => epoch >= m);
        return BaseLr * warm * Math.Pow(Gamma, reached);
    }
}
