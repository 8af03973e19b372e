using System.Runtime.InteropServices;

namespace VisionSsm.Runtime;

/// <summary>
/// glibc malloc tuning for large activations. glibc serves blocks above its mmap threshold (adaptive, at most
/// 32 MiB) with a fresh mmap and unmaps them on free, so every ≥ 32 MiB tensor (e.g. VMamba-T stage-1
/// activations at batch 8: 8·384·3136 floats = 38 MiB) is page-faulted and zeroed by the kernel on every use —
/// measured 20 ms for a GELU that takes 2.7 ms at half the size. Raising the mmap and trim thresholds keeps such
/// blocks in the heap for reuse. Process-wide; a no-op where glibc is absent.
/// </summary>
public static partial class MallocTuning
{
    const int M_TRIM_THRESHOLD = -1;
    const int M_MMAP_THRESHOLD = -3;

    static bool applied;

    /// <summary>Keeps blocks up to <paramref name="thresholdBytes"/> (default 1 GiB) in the heap. Returns false if unsupported.</summary>
    public static bool KeepLargeBlocksInHeap(int thresholdBytes = 1 << 30)
    {
        if (applied) return true;
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            applied = mallopt(M_MMAP_THRESHOLD, thresholdBytes) == 1 & mallopt(M_TRIM_THRESHOLD, thresholdBytes) == 1;
            return applied;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
