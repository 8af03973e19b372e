using System.Runtime.CompilerServices;
using VisionSsm.Runtime;

namespace VisionSsm.Tests;

/// <summary>
/// Runs once per test process: one libtorch thread per xunit worker (xunit runs two workers on this 2-core
/// machine), so the tests stay stable and never oversubscribe the cores (TorchRuntime's policy).
/// </summary>
static class TestSetup
{
    [ModuleInitializer]
    internal static void Init()
    {
        TorchRuntime.SetThreads(1);
        TorchSharp.torch.random.manual_seed(1234);
    }
}
