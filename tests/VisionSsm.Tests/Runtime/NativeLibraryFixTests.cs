using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Runtime;

public class NativeLibraryFixTests
{
    static string CachedShim()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [Fact]
    public void LibtorchLoadsAndComputes()
    {
        NativeLibraryCheck.EnsureLoaded();
        using var a = tensor(new float[] { 1, 2, 3 });
        using var b = tensor(new float[] { 4, 5, 6 });
        Assert.Equal(32f, a.dot(b).item<float>());   // 1·4 + 2·5 + 3·6
    }

    [Fact]
    public void OutputShimIsPatchedUnlessSystemHasTheVersion()
    {
        string shim = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(shim), $"expected the shim beside the tests at {shim}");
        // Patching an already-patched (or never-needing) file changes nothing.
        var bytes = File.ReadAllBytes(shim);
        Assert.Equal(0, ElfSymbolVersionPatcher.PatchInMemory(bytes, ElfSymbolVersionPatcher.ShimVersion, ElfSymbolVersionPatcher.ShimAllowedSymbols));
    }

    [Fact]
    public void PatchChangesTwoBytesOnceAndIsIdempotent()
    {
        string cached = CachedShim();
        Assert.True(File.Exists(cached), $"expected TorchSharp's shim in the NuGet cache at {cached}");
        string dir = Directory.CreateTempSubdirectory("vssm-elf").FullName;
        try
        {
            string copy = Path.Combine(dir, "libLibTorchSharp.so");
            File.Copy(cached, copy);
            var original = File.ReadAllBytes(copy);
            var mtime = File.GetLastWriteTimeUtc(copy);

            var first = ElfSymbolVersionPatcher.Patch(copy, ElfSymbolVersionPatcher.ShimVersion, ElfSymbolVersionPatcher.ShimAllowedSymbols);
            var patched = File.ReadAllBytes(copy);
            // docs/torchsharp-native-fix.md §2: exactly two bytes differ — the marker symbol's versym entry (0x12 → 0x01) and the
            // Vernaux flags (0 → VER_FLG_WEAK).
            var diffs = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
            Assert.Equal(2, first.BytesChanged);
            Assert.Equal(2, diffs.Length);
            Assert.Contains(diffs, i => original[i] == 0x12 && patched[i] == 0x01);
            Assert.Contains(diffs, i => original[i] == 0x00 && patched[i] == 0x02);
            Assert.Equal(mtime, File.GetLastWriteTimeUtc(copy));

            var second = ElfSymbolVersionPatcher.Patch(copy, ElfSymbolVersionPatcher.ShimVersion, ElfSymbolVersionPatcher.ShimAllowedSymbols);
            Assert.Equal(0, second.BytesChanged);
            Assert.Equal(patched, File.ReadAllBytes(copy));
            Assert.Equal(original.Length, patched.Length);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void RefusesASymbolThatReallyNeedsTheVersion()
    {
        var bytes = File.ReadAllBytes(CachedShim());
        var e = Assert.Throws<InvalidDataException>(() =>
            ElfSymbolVersionPatcher.PatchInMemory(bytes, ElfSymbolVersionPatcher.ShimVersion, ["some_other_symbol"]));
        Assert.Contains("_ZSt21ios_base_library_initv", e.Message);
    }

    [Fact]
    public void RejectsNonElfInput()
    {
        Assert.Throws<InvalidDataException>(() => ElfSymbolVersionPatcher.PatchInMemory(new byte[100], "X", []));
    }
}
