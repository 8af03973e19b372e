using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Training;

namespace VisionSsm.Bench;

/// <summary>
/// <c>train-rss [--model vmamba_nano] [--batch 8] [--steps 1000] [--data DIR] [--threads 1]</c>: classification training
/// through the library's <see cref="Trainer"/> (a 512/256-image subset of Fashion-MNIST unless --data is given, so an epoch and its evaluation end before step 100), with
/// the process's resident set (VmRSS) sampled every 100 steps; exits 1 when RSS after the last step exceeds RSS after
/// step 100 by more than 10 % (a leak of native tensors or managed buffers grows it per step).
/// A segmentation trainer can be sampled the same way: subscribe to its per-step event and call <see cref="Rss"/>.
/// </summary>
public static class TrainRssSuite
{
    public static void RegisterSuite() =>
        Suites.Register("train-rss", "classification training for N steps; RSS every 100 steps; exit 1 if RSS(N) > 1.1 × RSS(100)", Run);

    static int Run(string[] args)
    {
        int threads = Measure.IntOption(args, "--threads", 1);
        TorchRuntime.SetThreads(threads);
        int steps = Measure.IntOption(args, "--steps", 1000);
        int batch = Measure.IntOption(args, "--batch", 8);
        string model = Measure.StringOption(args, "--model", "vmamba_nano");
        string work = Directory.CreateTempSubdirectory("vssm-rss-").FullName;
        try
        {
            string data = Measure.StringOption(args, "--data", "");
            if (data.Length == 0)
            {
                data = Path.Combine(work, "data");
                // 512 images: with batch 8 an epoch (and its evaluation) ends at step 64, so step 100 already saw both.
                SoakTools.Subset(Data.FashionMnist.DefaultDirectory, data, 512, 256);
            }
            var config = new TrainConfig
            {
                Model = model, Data = data, BatchSize = batch, Threads = threads, MaxSteps = steps, LogInterval = 1000,
                Epochs = (int)Math.Ceiling(steps / Math.Floor(512.0 / batch)) + 1,
            };
            var samples = new List<(long Step, long Rss, long Managed)>();
            using var trainer = Trainer.Start(config, ModelZoo.Get(model), RunData.Open(config), new RunFolder(Path.Combine(work, "run")));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            trainer.StepCompleted += s =>
            {
                if (s % 100 != 0) return;
                samples.Add((s, Rss(), GC.GetTotalMemory(false)));
                Console.Error.WriteLine($"step {s}: RSS {samples[^1].Rss >> 20} MiB ({clock.Elapsed.TotalSeconds:F0} s)");
            };
            trainer.Run();
            Console.WriteLine($"{model}, batch {batch}, {threads} thread(s), {steps} steps (evaluation after each epoch of {trainer.StepsPerEpoch} steps)");
            Console.WriteLine();
            Console.WriteLine("| step | RSS (MiB) | vs step 100 | managed heap (MiB) |");
            Console.WriteLine("|---:|---:|---:|---:|");
            foreach (var (s, rss, managed) in samples)
                Console.WriteLine($"| {s} | {rss / 1048576.0:F1} | {(double)rss / samples[0].Rss - 1:+0.0%;-0.0%} | {managed / 1048576.0:F1} |");
            double growth = (double)samples[^1].Rss / samples[0].Rss - 1;
            Console.WriteLine($"\nRSS after step {samples[^1].Step} is {growth:+0.0%;-0.0%} vs step 100 (limit +10 %); {clock.Elapsed.TotalSeconds:F0} s");
            return growth <= 0.10 ? 0 : 1;
        }
        finally { try { Directory.Delete(work, true); } catch (IOException) { } }
    }

    /// <summary>The process's resident set size (VmRSS of /proc/self/status) in bytes; the working set elsewhere.</summary>
    public static long Rss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { }
        return Environment.WorkingSet;
    }
}
