using TorchSharp;

namespace VisionSsm.Runtime;

/// <summary>
/// Start-up check that libtorch and TorchSharp's shim load. The build patches the shim in every output
/// (build/TorchSharpNativeFix.targets); this covers outputs copied elsewhere without that step: it patches the
/// shim beside the application in place when the first load fails, and otherwise explains what to do.
/// Before the first load it also applies the process-wide settings libtorch reads only once: the OpenMP wait
/// policy (<see cref="OpenMpPolicy"/>) and glibc's large-block reuse (<see cref="MallocTuning"/>).
/// Every entry point (CLI, tests, benchmarks, <c>ModelZoo.Create</c>, <c>TorchRuntime.SetThreads</c>) calls this first.
/// </summary>
public static class NativeLibraryCheck
{
    static readonly object Gate = new();
    static bool loaded;

    /// <summary>True once <see cref="EnsureLoaded"/> has loaded libtorch (environment read by libgomp is fixed from then on).</summary>
    public static bool IsLoaded => Volatile.Read(ref loaded);

    public static void EnsureLoaded()
    {
        if (loaded) return;
        lock (Gate)
        {
            if (loaded) return;
            OpenMpPolicy.ApplyBeforeLibtorchLoads();
            MallocTuning.KeepLargeBlocksInHeap();
            if (OperatingSystem.IsLinux()) PatchShimBesideApplication();
            try
            {
                using var probe = torch.ones(1);
            }
            catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException)
            {
                throw new InvalidOperationException(
                    "libtorch / TorchSharp native libraries failed to load: " + (e.InnerException ?? e).Message +
                    " — rebuild with 'dotnet build' (it patches libLibTorchSharp.so for older libstdc++), or install " +
                    "libstdc++ from GCC 13 or later.", e);
            }
            loaded = true;
        }
    }

    /// <summary>Where the host loads the shim from: beside the app (a RID-specific build) or, for a portable build,
    /// runtimes/linux-&lt;arch&gt;/native/ (https://learn.microsoft.com/dotnet/core/rid-catalog#using-rids).</summary>
    internal static IEnumerable<string> ShimCandidates(string baseDirectory)
    {
        string arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        yield return Path.Combine(baseDirectory, "libLibTorchSharp.so");
        yield return Path.Combine(baseDirectory, "runtimes", $"linux-{arch}", "native", "libLibTorchSharp.so");
    }

    static void PatchShimBesideApplication()
    {
        var shims = ShimCandidates(AppContext.BaseDirectory).Where(File.Exists).ToList();
        if (shims.Count == 0 || ElfSymbolVersionPatcher.SystemLibStdCxxHas(ElfSymbolVersionPatcher.ShimVersion)) return;
        foreach (string shim in shims)
        {
            try
            {
                ElfSymbolVersionPatcher.Patch(shim, ElfSymbolVersionPatcher.ShimVersion, ElfSymbolVersionPatcher.ShimAllowedSymbols);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Read-only install: the load below reports the failure with a fix.
            }
        }
    }
}
