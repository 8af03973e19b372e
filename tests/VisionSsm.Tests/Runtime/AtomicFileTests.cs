using VisionSsm.Runtime;

namespace VisionSsm.Tests.Runtime;

public class AtomicFileTests
{
    static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "vssm-atomic-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void ACrashBeforeTheRenameKeepsTheOldFileAndRemovesTheTemp()
    {
        string dir = TempDir(), path = Path.Combine(dir, "metrics.csv");
        AtomicFile.WriteAllLines(path, ["a", "b"]);
        AtomicFile.BeforeRename = _ => throw new IOException("simulated crash");
        try { Assert.Throws<IOException>(() => AtomicFile.WriteAllText(path, "new")); }
        finally { AtomicFile.BeforeRename = null; }
        Assert.Equal(["a", "b"], File.ReadAllLines(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void AWriterThatThrowsLeavesNothingBehind()
    {
        string dir = TempDir(), path = Path.Combine(dir, "plot.png");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, fs => { fs.WriteByte(1); throw new InvalidOperationException(); }));
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void WriteViaHandsOutATempPathWithTheTargetsExtensionAndCopyReplacesTheTarget()
    {
        string dir = TempDir(), path = Path.Combine(dir, "curves.png");
        string? seen = null;
        AtomicFile.WriteVia(path, temp => { seen = temp; File.WriteAllBytes(temp, [1, 2, 3]); });
        Assert.Equal(".png", Path.GetExtension(seen));
        Assert.Equal(dir, Path.GetDirectoryName(seen));     // same folder, so the rename cannot cross file systems
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        string copy = Path.Combine(dir, "best.ckpt");
        File.WriteAllBytes(copy, [9]);
        AtomicFile.Copy(path, copy);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(copy));
        Assert.Equal(2, Directory.GetFiles(dir).Length);
    }
}
