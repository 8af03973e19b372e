namespace VisionSsm.Runtime;

/// <summary>
/// Writes files so that a crash leaves either the old file or the complete new one, never a torn one:
/// write a temp file in the same folder, fsync it, then rename it over the target (rename is atomic on one file system).
/// Every file the library writes for the user (checkpoints, run metrics, config, plots, exported weights) goes through here.
/// </summary>
public static class AtomicFile
{
    /// <summary>Test hook: runs after the temp file is complete and before the rename (to simulate a crash there).
    /// Per thread, so a test's simulated crash cannot hit writes of tests running beside it.</summary>
    [ThreadStatic] internal static Action<string>? BeforeRename;

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, which gets the temp file's stream.</summary>
    public static void Write(string path, Action<FileStream> write) =>
        WriteVia(path, temp =>
        {
            using var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            write(fs);   // WriteVia fsyncs the finished file once, after this stream is closed
        });

    /// <summary>
    /// For writers that take a file name (e.g. ScottPlot's <c>SavePng</c>): <paramref name="writeTo"/> writes the temp path,
    /// which keeps the target's extension; it is then fsynced and renamed over <paramref name="path"/>.
    /// </summary>
    public static void WriteVia(string path, Action<string> writeTo)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $"{TempPrefix}{Guid.NewGuid():N}-{Path.GetFileName(full)}");
        try
        {
            writeTo(temp);
            using (var fs = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            BeforeRename?.Invoke(temp);
            File.Move(temp, full, overwrite: true);
        }
        // A full disk (ENOSPC), a read-only or forbidden folder: name the target, say the old file is intact.
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new IOException(Failed(full, e), e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException(Failed(full, e), e);
        }
        finally
        {
            try { if (File.Exists(temp)) File.Delete(temp); } catch (IOException) { }
        }
    }

    /// <summary>Temp files start with this; one left behind is from a process killed mid-write (see <see cref="DeleteStaleTemps"/>).</summary>
    public const string TempPrefix = ".tmp-";

    static string Failed(string path, Exception e) =>
        $"cannot write '{path}': {e.Message.TrimEnd('.')}. " +
        (File.Exists(path) ? "The previous version of the file is unchanged." : "No file was written.");

    /// <summary>
    /// Deletes the temp files a killed process left in <paramref name="directory"/> (only call when nothing else is
    /// writing there, e.g. when resuming a run); returns how many.
    /// </summary>
    public static int DeleteStaleTemps(string directory)
    {
        int n = 0;
        if (!Directory.Exists(directory)) return 0;
        foreach (var f in Directory.EnumerateFiles(directory, TempPrefix + "*"))
            try { File.Delete(f); n++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return n;
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, fs => { using var w = new StreamWriter(fs, leaveOpen: true); w.Write(text); });

    public static void WriteAllLines(string path, IEnumerable<string> lines) =>
        Write(path, fs =>
        {
            using var w = new StreamWriter(fs, leaveOpen: true);
            foreach (var line in lines) w.WriteLine(line);
        });

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/> atomically (e.g. last.ckpt → best.ckpt).</summary>
    public static void Copy(string from, string to) =>
        Write(to, fs => { using var src = File.OpenRead(from); src.CopyTo(fs); });
}
