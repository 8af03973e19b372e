using System.Runtime.CompilerServices;
using VisionSsm.Runtime;

namespace VisionSsm.Tests;

/// <summary>
/// Runs once per test process: one libtorch thread per xunit worker (xunit runs two workers on this 2-core
/// machine), so the tests stay stable and never oversubscribe the cores (TorchRuntime's policy). Kernel choices are
/// forced to our kernels wherever they run (<see cref="KernelChoice.Ours"/>): nothing is timed in the tests, and the
/// kernels the suite exercises do not depend on the machine's load.
/// </summary>
static class TestSetup
{
    [ModuleInitializer]
    internal static void Init()
    {
        TorchRuntime.SetThreads(1);
        KernelOptions.SetProcessDefault(KernelOptions.Default with { Choice = KernelChoice.Ours });
        TorchSharp.torch.random.manual_seed(1234);
    }
}
