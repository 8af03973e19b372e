using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VisionSsm.Tests;

/// <summary>Skips (reports as skipped, never as passed) a test whose code path needs hardware this machine lacks.</summary>
public static class Hardware
{
    /// <summary>The AVX-512 kernels exist only where .NET accelerates Vector512 (not on AVX2-only CPUs, nor with
    /// <c>DOTNET_EnableAVX512=0</c>).</summary>
    public static void RequireAvx512() =>
        Skip.IfNot(Vector512.IsHardwareAccelerated && Avx512F.IsSupported, "needs AVX-512 (Vector512), which this CPU or runtime lacks");

    /// <summary>The 256-bit kernels (AVX2 + FMA) exist where .NET accelerates Vector256 and the CPU has FMA.</summary>
    public static void RequireAvx2() =>
        Skip.IfNot(Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported, "needs AVX2 and FMA, which this CPU or runtime lacks");
}
