using System.Diagnostics;
using VisionSsm.Export;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `onnx-chunk`: ONNX Runtime latency of a model's export at several scan chunk lengths Q (docs/export.md §3). Each
/// model is exported once per Q, every session is checked against our forward, and the sessions then run interleaved
/// round by round in this one process, so load from other processes hits every Q alike. Prints per Q the node count,
/// median wall ms, min process-CPU ms (both ORT threads) and the ratio of medians to Q = 8.
/// Options: --models a,b (default vmamba_tiny_s1l8,vim_small), --chunks 4,8,16,32, --size 224, --batch 1,
/// --rounds 7, --threads 2.
/// </summary>
public static class OnnxChunkBench
{
    public static void RegisterSuite() =>
        Suites.Register("onnx-chunk", "ONNX Runtime latency of an export vs the scan chunk length Q, interleaved in one process", Run);

    static int Run(string[] args)
    {
        var models = Measure.StringOption(args, "--models", "vmamba_tiny_s1l8,vim_small").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var chunks = Measure.StringOption(args, "--chunks", "4,8,16,32").Split(',').Select(int.Parse).ToArray();
        int size = Measure.IntOption(args, "--size", 224), batch = Measure.IntOption(args, "--batch", 1);
        int rounds = Math.Max(3, Measure.IntOption(args, "--rounds", 7)), threads = Measure.IntOption(args, "--threads", 2);
        TorchRuntime.SetThreads(threads);
        Console.WriteLine($"## ONNX Runtime vs scan chunk Q — {threads} threads, {size}², batch {batch}, {rounds} interleaved rounds after 1 warm-up");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {LoadAverage()} at start");
        Console.WriteLine();
        Console.WriteLine("| model | Q | nodes | parity | median wall ms | min process-CPU ms | median / median at Q8 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var name in models)
        {
            var sessions = new List<(int Q, int Nodes, double Parity, OnnxRuntimeSession Session)>();
            using (var net = ModelZoo.Create(name, new ModelOptions(1000, 3, size, 0)))
            {
                net.eval();
                foreach (int q in chunks)
                {
                    var onnx = OnnxExporter.Export(net, 3, size, new OnnxExportOptions(batch, size, ScanChunkLength: q));
                    var session = new OnnxRuntimeSession(onnx.Bytes, threads);
                    var parity = OnnxVerifier.Compare(session, net, onnx.InputShape);
                    sessions.Add((q, onnx.NodeCount, parity.MaxRelativeError, session));
                    Console.Error.WriteLine($"{name} Q{q}: {onnx.NodeCount} nodes, parity {parity.MaxRelativeError:E1}");
                }
            }
            var data = new float[(long)batch * 3 * size * size];
            var rng = new Random(0);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            long[] shape = [batch, 3, size, size];
            foreach (var s in sessions) s.Session.Run(data, shape);                    // warm-up
            var wall = sessions.Select(_ => new List<double>()).ToArray();
            var cpu = sessions.Select(_ => double.MaxValue).ToArray();
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < sessions.Count; i++)
                {
                    double c0 = Measure.ProcessCpuMs();
                    var sw = Stopwatch.StartNew();
                    sessions[i].Session.Run(data, shape);
                    wall[i].Add(sw.Elapsed.TotalMilliseconds);
                    cpu[i] = Math.Min(cpu[i], Measure.ProcessCpuMs() - c0);
                }
                Console.Error.WriteLine($"{name} round {r + 1}/{rounds}: {string.Join(", ", sessions.Select((s, i) => $"Q{s.Q} {wall[i][^1]:F0} ms"))}");
            }
            var medians = wall.Select(w => w.Order().ElementAt(w.Count / 2)).ToArray();
            int baseIndex = Math.Max(0, sessions.FindIndex(s => s.Q == 8));
            for (int i = 0; i < sessions.Count; i++)
                Console.WriteLine($"| `{name}` | {sessions[i].Q} | {sessions[i].Nodes:N0} | {sessions[i].Parity:E1} | {medians[i]:F0} | {cpu[i]:F0} | {medians[i] / medians[baseIndex]:F2} |");
            foreach (var s in sessions) s.Session.Dispose();
        }
        Console.WriteLine();
        Console.WriteLine($"load average {LoadAverage()} at end");
        return 0;
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
