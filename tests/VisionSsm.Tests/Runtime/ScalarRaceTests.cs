using VisionSsm.Bench;
using VisionSsm.Tests.Cli;

namespace VisionSsm.Tests.Runtime;

/// <summary>The short run of the temporary-Scalar stress (docs/reliability.md; the long one is the bench suite
/// <c>scalar-race</c>). Serial: the collector thread would slow every parallel test.</summary>
[Collection(SerialTrainingCollection.Name)]
public class ScalarRaceTests
{
    [Fact]
    public void Training_and_inference_steps_survive_continuous_forced_collections()
    {
        var r = ScalarRaceStress.Run(steps: 1000, duration: TimeSpan.FromSeconds(6));
        Assert.True(r.Steps >= 5, $"only {r.Steps} steps ran");
        Assert.True(r.Failures == 0, $"{r.Failures} of {r.Steps} steps failed: " + string.Join("; ", r.Errors.Select(e => $"{e.Value}× {e.Key}")));
    }
}
