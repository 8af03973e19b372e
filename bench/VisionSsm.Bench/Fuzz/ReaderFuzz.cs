using System.Diagnostics;

namespace VisionSsm.Bench.Fuzz;

/// <summary>
/// One file reader under test: valid seed files, a structure-aware mutator (may be null), how to read a file, which
/// exceptions are its documented errors, and the most it may allocate for an input of a given length.
/// </summary>
public sealed record FuzzTarget(
    string Name,
    string FileName,
    IReadOnlyList<byte[]> Seeds,
    Func<byte[], Random, byte[]>? Structured,
    Action<string> Read,
    Func<Exception, bool> IsDocumented,
    Func<byte[], long> AllocationBound);

/// <summary>An input the reader mishandled: an undocumented exception, an error not naming the file, or too much allocation.</summary>
public sealed record FuzzFailure(int Input, string Kind, string Detail, string? SavedAs);

public sealed record FuzzReport(
    string Reader, int Inputs, int Accepted, int Rejected, IReadOnlyList<FuzzFailure> Failures, TimeSpan Elapsed,
    double SlowestMs, int SlowestInput, long MaxAllocated, int MaxAllocatedInput, long PeakRssBytes);

/// <summary>
/// The seeded reader fuzzer: input <c>i</c> of a reader is a deterministic function of (seed, reader, i), so any
/// failure is replayed with <c>--reader R --input i</c>. Each input is written to a file, read, and classified:
/// accepted, rejected with a documented error naming the file, or a failure. A watchdog ends the process when one
/// input runs past the time limit (a hang), after saving it.
/// </summary>
public static class ReaderFuzz
{
    /// <summary>Fuzzes <paramref name="target"/> with inputs <paramref name="first"/> … first + count − 1.</summary>
    public static FuzzReport Run(FuzzTarget target, int count, int seed, string workDir, TimeSpan limit, string? saveDir = null,
        int first = 0, Action<string>? log = null)
    {
        Directory.CreateDirectory(workDir);
        string path = Path.Combine(workDir, target.FileName);
        foreach (var s in target.Seeds)   // the seeds must read: otherwise the harness, not the reader, is broken
        {
            File.WriteAllBytes(path, s);
            target.Read(path);
        }
        var failures = new List<FuzzFailure>();
        int accepted = 0, rejected = 0, slowestInput = -1, maxAllocInput = -1;
        double slowest = 0;
        long maxAlloc = 0;
        long runningSince = 0;   // Stopwatch ticks of the running input's start; 0 when idle
        int running = -1;
        byte[]? current = null;
        using var stop = new CancellationTokenSource();
        var watchdog = new Thread(() =>
        {
            while (!stop.Token.WaitHandle.WaitOne(100))
            {
                long since = Interlocked.Read(ref runningSince);
                if (since == 0 || Stopwatch.GetElapsedTime(since) < limit) continue;
                string? saved = Save(saveDir, target, running, current, "hang");
                Console.Error.WriteLine($"fuzz {target.Name}: input {running} still running after {limit.TotalSeconds:F0} s (hang); saved as {saved ?? "(not saved)"}");
                Environment.Exit(3);
            }
        }) { IsBackground = true, Name = "fuzz-watchdog" };
        watchdog.Start();
        var clock = Stopwatch.StartNew();
        for (int i = first; i < first + count; i++)
        {
            byte[] input = MakeInput(target, seed, i);
            File.WriteAllBytes(path, input);
            current = input;
            running = i;
            long alloc0 = GC.GetAllocatedBytesForCurrentThread();
            long start = Stopwatch.GetTimestamp();
            Interlocked.Exchange(ref runningSince, start);
            Exception? error = null;
            try { target.Read(path); }
            catch (Exception e) { error = e; }
            Interlocked.Exchange(ref runningSince, 0);
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            long alloc = GC.GetAllocatedBytesForCurrentThread() - alloc0;
            if (ms > slowest) (slowest, slowestInput) = (ms, i);
            if (alloc > maxAlloc) (maxAlloc, maxAllocInput) = (alloc, i);
            if (error is null) accepted++;
            else if (target.IsDocumented(error) && error.Message.Contains(path, StringComparison.Ordinal)) rejected++;
            else
            {
                string kind = target.IsDocumented(error) ? "error not naming the file" : error.GetType().FullName!;
                string frame = error.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("VisionSsm", StringComparison.Ordinal))?.Trim() ?? "";
                failures.Add(new FuzzFailure(i, kind, $"{error.Message} {frame}", Save(saveDir, target, i, input, "crash")));
            }
            if (alloc > (1 << 20) + 16L * input.Length && alloc > target.AllocationBound(input))   // cheap test first
                failures.Add(new FuzzFailure(i, "allocation", $"{alloc} bytes allocated for a {input.Length}-byte input", Save(saveDir, target, i, input, "alloc")));
            if (log is not null && (i - first + 1) % 10_000 == 0)
                log($"{target.Name}: {i - first + 1}/{count} inputs, {failures.Count} failures, {clock.Elapsed.TotalSeconds:F0} s");
        }
        stop.Cancel();
        watchdog.Join();   // before the token source is disposed
        return new FuzzReport(target.Name, count, accepted, rejected, failures, clock.Elapsed, slowest, slowestInput, maxAlloc, maxAllocInput, PeakRss());
    }

    /// <summary>Input <paramref name="index"/>: a seed, mutated by the structure-aware mutator or byte-level operators (or both).</summary>
    public static byte[] MakeInput(FuzzTarget target, int seed, int index)
    {
        var r = new Random(unchecked(seed * 1_000_003 + index * 7_919 + StableHash(target.Name)));
        byte[] data = target.Seeds[r.Next(target.Seeds.Count)];
        int mode = r.Next(10);
        if (target.Structured is not null && mode < 5) data = target.Structured(data, r);
        if (target.Structured is null || mode >= 3) data = Mutations.Bytes(data, r, target.Seeds);
        return data;
    }

    static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)h;
    }

    static string? Save(string? dir, FuzzTarget target, int index, byte[]? input, string kind)
    {
        if (dir is null || input is null) return null;
        Directory.CreateDirectory(dir);
        string p = Path.Combine(dir, $"{target.Name}-{index}-{kind}-{target.FileName}");
        File.WriteAllBytes(p, input);
        return p;
    }

    /// <summary>The process's peak resident set (VmHWM), 0 where /proc is absent.</summary>
    public static long PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { }
        return 0;
    }
}
