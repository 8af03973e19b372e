using System.Runtime.InteropServices;

namespace VisionSsm.Runtime;

/// <summary>
/// Flush-to-zero and denormals-are-zero (the x86 MXCSR FTZ and DAZ bits) for the calling thread, through libtorch's
/// own <c>at::Context::setFlushDenormal</c> — what <c>torch.set_flush_denormal(True)</c> does. Late in training,
/// Adam's second moments and tiny gradients drift into the denormal range (below 1.2e-38 in float32), where each
/// arithmetic operation can cost dozens of cycles. MXCSR is per thread: the setting covers the C# code and libtorch
/// ops on this thread, and threads it creates afterwards (libtorch's OpenMP pool) start with a copy of it on Linux.
/// </summary>
public static partial class DenormalFlush
{
    /// <summary>Sets FTZ/DAZ on the calling thread. Returns false where unsupported (no SSE3 or no libtorch entry point).</summary>
    public static bool SetOnCurrentThread(bool on)
    {
        NativeLibraryCheck.EnsureLoaded();
        try { return SetFlushDenormal(on ? 1 : 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    // Itanium C++ ABI name of the static at::Context::setFlushDenormal(bool). The bool goes as a 32-bit 0/1 (the
    // callee reads the low byte; a 32-bit argument leaves no stale upper bits to worry about).
    [LibraryImport("libtorch_cpu", EntryPoint = "_ZN2at7Context16setFlushDenormalEb")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool SetFlushDenormal(int on);
}
