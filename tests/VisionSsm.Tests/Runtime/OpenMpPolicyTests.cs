using VisionSsm.Runtime;

namespace VisionSsm.Tests.Runtime;

public class OpenMpPolicyTests
{
    [Fact]
    public void TheSpinCountIsNotTouchedOnceLibtorchHasLoaded()
    {
        NativeLibraryCheck.EnsureLoaded();
        string? before = Environment.GetEnvironmentVariable(OpenMpPolicy.SpinVariable);
        Assert.False(OpenMpPolicy.SetSpinCountBeforeLibtorchLoads(OpenMpPolicy.TrainingSpinCount)); // libgomp already read it
        Assert.Equal(before, Environment.GetEnvironmentVariable(OpenMpPolicy.SpinVariable));
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenMpPolicy.SetSpinCountBeforeLibtorchLoads(-1));
    }
}
