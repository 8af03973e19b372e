using VisionSsm.Runtime;

namespace VisionSsm.Bench.Fuzz;

/// <summary>
/// <c>fuzz [--inputs 100000] [--seed 1] [--reader pth,image,…] [--input I] [--limit-seconds 10] [--out fuzz-out]</c>:
/// the seeded reader fuzzer (<see cref="ReaderFuzz"/>) over every reader of <see cref="FuzzTargets"/>; prints one table
/// row per reader and the failures; exits 1 when any input failed. <c>--input I</c> replays one input (and saves it).
/// </summary>
public static class FuzzSuite
{
    public static void RegisterSuite() =>
        Suites.Register("fuzz", "seeded mutation fuzzing of every file reader (pth, safetensors, idx, cifar, ckpt, run JSON, images)", Run);

    static int Run(string[] args)
    {
        TorchRuntime.SetThreads(1);
        int inputs = Measure.IntOption(args, "--inputs", 100_000);
        int seed = Measure.IntOption(args, "--seed", 1);
        int single = Measure.IntOption(args, "--input", -1);
        var limit = TimeSpan.FromSeconds(Measure.IntOption(args, "--limit-seconds", 10));
        string outDir = Path.GetFullPath(Measure.StringOption(args, "--out", "fuzz-out"));
        var readers = Measure.StringOption(args, "--reader", string.Join(",", FuzzTargets.Names)).Split(',', StringSplitOptions.RemoveEmptyEntries);
        // tmpfs when there is one: a few hundred thousand small files are written.
        string work = Directory.Exists("/dev/shm") ? Directory.CreateDirectory(Path.Combine("/dev/shm", $"vssm-fuzz-{Environment.ProcessId}")).FullName
            : Directory.CreateTempSubdirectory("vssm-fuzz-").FullName;
        var torchFiles = FindTorchFixtures();
        Console.WriteLine($"seed {seed}, {(single >= 0 ? $"input {single}" : $"{inputs} inputs")} per reader, limit {limit.TotalSeconds:F0} s per input, " +
                          $"{torchFiles.Count} PyTorch-written seed files; failing inputs saved under {outDir}");
        Console.WriteLine();
        Console.WriteLine("| reader | inputs | accepted | rejected (documented error) | failures | slowest input | max managed alloc/input | peak RSS | time |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var all = new List<(string Reader, FuzzFailure Failure)>();
        try
        {
            foreach (var name in readers)
            {
                var target = FuzzTargets.Create(name, Path.Combine(work, "seeds-" + name), torchFiles);
                var r = ReaderFuzz.Run(target, single >= 0 ? 1 : inputs, seed, Path.Combine(work, name), limit,
                    outDir, first: Math.Max(single, 0), log: m => Console.Error.WriteLine(m));
                Console.WriteLine($"| {name} | {r.Inputs:N0} | {r.Accepted:N0} | {r.Rejected:N0} | {r.Failures.Count} | {r.SlowestMs:F1} ms (#{r.SlowestInput}) | " +
                                  $"{r.MaxAllocated / 1024.0:N0} KiB (#{r.MaxAllocatedInput}) | {r.PeakRssBytes >> 20} MiB | {r.Elapsed.TotalSeconds:F0} s |");
                all.AddRange(r.Failures.Select(f => (name, f)));
                if (single >= 0)
                {
                    Directory.CreateDirectory(outDir);
                    string p = Path.Combine(outDir, $"{name}-{single}-{target.FileName}");
                    File.WriteAllBytes(p, ReaderFuzz.MakeInput(target, seed, single));
                    Console.Error.WriteLine($"input saved as {p}");
                }
            }
        }
        finally { try { Directory.Delete(work, true); } catch (IOException) { } }
        if (all.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("failures (grouped by reader, kind and message start):");
            foreach (var g in all.GroupBy(f => (f.Reader, f.Failure.Kind, Key: f.Failure.Detail.Length > 90 ? f.Failure.Detail[..90] : f.Failure.Detail)))
                Console.WriteLine($"  {g.Count(),6} × {g.Key.Reader} {g.Key.Kind}: {g.First().Failure.Detail} (e.g. input {g.First().Failure.Input})");
        }
        return all.Count == 0 ? 0 : 1;
    }

    /// <summary>The .pt files PyTorch wrote for the interop tests (tests/VisionSsm.Tests/Interop/Fixtures), found from the working or app folder.</summary>
    static IReadOnlyList<string> FindTorchFixtures()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string f = Path.Combine(d.FullName, "tests", "VisionSsm.Tests", "Interop", "Fixtures");
                if (Directory.Exists(f)) return Directory.GetFiles(f, "*.pt");
            }
        return [];
    }
}
