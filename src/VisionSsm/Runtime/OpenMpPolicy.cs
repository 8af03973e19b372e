using System.Runtime.InteropServices;

namespace VisionSsm.Runtime;

/// <summary>
/// libgomp's idle OpenMP workers spin (OMP_WAIT_POLICY=ACTIVE-like) after each parallel region. Our C# kernels run
/// between libtorch ops on the same two cores, so a spinning libtorch worker steals the core the kernel's second
/// thread needs: measured 5–10× slower scan forward+backward and up to 20× slower 2-thread model runs on this
/// machine (notes in BENCHMARKS.md). PASSIVE makes idle workers sleep instead. libgomp reads the variable once,
/// when libtorch loads, so it must be in the native environment before then — .NET's
/// Environment.SetEnvironmentVariable does not reach the C environment on Unix, hence setenv(3).
/// A value the user already set is kept.
/// </summary>
public static partial class OpenMpPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";

    /// <summary>Sets OMP_WAIT_POLICY=PASSIVE unless already set. Call before anything touches TorchSharp; returns the value in force.</summary>
    public static string ApplyBeforeLibtorchLoads()
    {
        string? current = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(current) || !OperatingSystem.IsLinux()) return current ?? "";
        try
        {
            setenv(Variable, "PASSIVE", 0);
            Environment.SetEnvironmentVariable(Variable, "PASSIVE");
            return "PASSIVE";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "";
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
