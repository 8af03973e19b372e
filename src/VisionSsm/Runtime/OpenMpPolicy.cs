using System.Runtime.InteropServices;

namespace VisionSsm.Runtime;

/// <summary>
/// libgomp's idle OpenMP workers spin (OMP_WAIT_POLICY=ACTIVE-like) after each parallel region. Our C# kernels run
/// between libtorch ops on the same two cores, so a spinning libtorch worker steals the core the kernel's second
/// thread needs: measured 5–10× slower scan forward+backward and up to 20× slower 2-thread model runs on this
/// machine (BENCHMARKS.md "Threads and runtime settings"). PASSIVE makes idle workers sleep instead. libgomp reads the variable once,
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

    public const string SpinVariable = "GOMP_SPINCOUNT";

    /// <summary>
    /// Spin count for training (<c>vssm train</c>): with PASSIVE alone, every libtorch op wakes its sleeping worker
    /// through a futex, and a training step runs thousands of small ops. A short spin (20,000 iterations, tens of µs)
    /// keeps the worker awake between back-to-back ops yet lets it sleep before a C# kernel needs the core. Measured on
    /// the default Fashion-MNIST run, 250 steps, four interleaved rounds: 445–525 img/s against 365–430 with PASSIVE
    /// alone (BENCHMARKS.md, "Threads and runtime settings"). The isolated scan benchmarks prefer no spin at all (same
    /// section), so only training asks for it.
    /// </summary>
    public const int TrainingSpinCount = 20_000;

    /// <summary>Sets GOMP_SPINCOUNT unless already set. Must run before libtorch loads (libgomp reads it once);
    /// returns false when it is too late, unsupported, or the user's own value is kept.</summary>
    public static bool SetSpinCountBeforeLibtorchLoads(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (NativeLibraryCheck.IsLoaded || !OperatingSystem.IsLinux()) return false;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SpinVariable))) return false;
        try
        {
            setenv(SpinVariable, count.ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
            Environment.SetEnvironmentVariable(SpinVariable, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
