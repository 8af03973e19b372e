using TorchSharp;

namespace VisionSsm.Runtime;

/// <summary>
/// Process-wide thread policy. libtorch's OpenMP pool and .NET's thread pool fight when both spin on a 2-core box
/// (docs/threads.md §1), so one number governs both: libtorch's intra-op threads and the degree of parallelism of
/// our own C# kernels. They never run at the same time (a model step calls one or the other), so sharing the cores
/// is safe. Inter-op parallelism stays at libtorch's default: we issue ops from one thread.
/// Default: every core. Tests use 1 thread per test runner worker (xunit runs two workers on two cores).
/// </summary>
public static class TorchRuntime
{
    static int threads = Environment.ProcessorCount;

    /// <summary>The thread count in force for libtorch and our kernels.</summary>
    public static int Threads => threads;

    static ParallelOptions kernelParallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };
    [ThreadStatic] static ParallelOptions? threadKernelParallelism;
    static readonly ParallelOptions SingleThread = new() { MaxDegreeOfParallelism = 1 };

    /// <summary>Options for the parallel loops of our kernels (<see cref="OpenMpTeam.For(long, long, ParallelOptions, Action{long})"/>), honouring <see cref="Threads"/> (or 1 on a thread that
    /// called <see cref="UseSingleThreadOnCurrentThread"/>).</summary>
    public static ParallelOptions KernelParallelism => threadKernelParallelism ?? kernelParallelism;

    /// <summary>Our kernels called from the current thread run on that thread alone (used by <see cref="InterOpParallel"/>'s
    /// workers, which already run side by side).</summary>
    internal static void UseSingleThreadOnCurrentThread() => threadKernelParallelism = SingleThread;

    /// <summary>Sets the thread count for libtorch and our kernels. <paramref name="count"/> ≤ 0 means every core.</summary>
    public static void SetThreads(int count)
    {
        if (count > 4096) throw new ArgumentOutOfRangeException(nameof(count), count, "expected a thread count between 1 and 4096 (or ≤ 0 for every core)");
        threads = count <= 0 ? Environment.ProcessorCount : count;
        NativeLibraryCheck.EnsureLoaded();
        torch.set_num_threads(threads);
        kernelParallelism = new ParallelOptions { MaxDegreeOfParallelism = threads };
    }
}
