using VisionSsm.Runtime;

namespace VisionSsm.Bench;

/// <summary>The long run of <see cref="ScalarRaceStress"/>: <c>scalar-race [--seconds 300] [--steps N] [--threads 2]</c>;
/// exits 1 when any step failed.</summary>
public static class ScalarRaceSuite
{
    public static void RegisterSuite() =>
        Suites.Register("scalar-race", "train+inference steps of a small ResNet while another thread forces GC + finalizers; counts failed steps", Run);

    static int Run(string[] args)
    {
        TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        int seconds = Measure.IntOption(args, "--seconds", 300);
        int steps = Measure.IntOption(args, "--steps", int.MaxValue);
        var r = ScalarRaceStress.Run(steps, TimeSpan.FromSeconds(seconds));
        foreach (var (e, n) in r.Errors) Console.WriteLine($"{n,6} × {e}");
        Console.WriteLine($"{r.Failures} failed steps in {r.Steps} steps ({r.Elapsed.TotalSeconds:F0} s, {r.Collections} forced collections)");
        return r.Failures == 0 ? 0 : 1;
    }
}
