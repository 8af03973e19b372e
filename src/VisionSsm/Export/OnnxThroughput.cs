using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using VisionSsm.Analysis;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// One benchmark point on ONNX Runtime: the zoo model is built as <see cref="ThroughputBenchmark"/> builds it, exported
/// in memory at the point's batch, checked against our forward, and the session (same intra-op thread count as our
/// runtime) is timed the same way — warm-up, then passes until the minimum time, median latency.
/// </summary>
public sealed class OnnxThroughput
{
    public const string RuntimeName = "onnxruntime";

    public int Warmup { get; init; } = 2;
    public int MinIterations { get; init; } = 3;
    public double MinSeconds { get; init; } = 2.0;
    public int InChannels { get; init; } = 3;
    public int NumClasses { get; init; } = 1000;
    public int ScanChunkLength { get; init; } = OnnxExportOptions.DefaultScanChunkLength;

    public event Action<string>? Log;

    public ThroughputResult Measure(string model, int imageSize, int batch)
    {
        var entry = ModelZoo.Get(model);
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected ≥ 1");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected ≥ 1");
        OnnxRuntimeSession session;
        long parameters;
        string note;
        try
        {
            using var net = ModelZoo.Create(entry.Name, new ModelOptions(NumClasses, InChannels, imageSize, 0));
            net.eval();
            parameters = net.parameters().Sum(p => p.numel());
            var clock = Stopwatch.StartNew();
            var onnx = OnnxExporter.Export(net, InChannels, imageSize, new OnnxExportOptions(batch, imageSize, ScanChunkLength: ScanChunkLength));
            double exportSeconds = clock.Elapsed.TotalSeconds;
            session = new OnnxRuntimeSession(onnx.Bytes, TorchRuntime.Threads);
            var parity = OnnxVerifier.Compare(session, net, onnx.InputShape);
            note = string.Create(CultureInfo.InvariantCulture, $"{onnx.NodeCount} nodes, rel. err {parity.MaxRelativeError:E1}");
            Log?.Invoke($"{entry.Name} @ {imageSize} ×{batch}: exported in {exportSeconds:F1} s, {note}, {onnx.Bytes.Length / 1e6:F0} MB");
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException or NotSupportedException or InvalidDataException)
        {
            string message = $"model '{entry.Name}' at {InChannels}×{imageSize}×{imageSize}: {e.Message.Split('\n')[0]}";
            Log?.Invoke(message);
            return new(entry.Name, imageSize, batch, BenchMode.Inference, double.NaN, double.NaN, double.NaN, double.NaN, 0, message,
                BadInput: e is ArgumentException, Runtime: RuntimeName);
        }
        using (session)
        {
            var data = new float[(long)batch * InChannels * imageSize * imageSize];
            var rng = new Random(0);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            long[] shape = [batch, InChannels, imageSize, imageSize];
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long constructionPeak = ProcessMemory.PeakRss();
            long baseline = ProcessMemory.ResetPeak();
            for (int i = 0; i < Warmup; i++) session.Run(data, shape);
            var latencies = new List<double>();
            var total = Stopwatch.StartNew();
            while (latencies.Count < MinIterations || total.Elapsed.TotalSeconds < MinSeconds)
            {
                var sw = Stopwatch.StartNew();
                session.Run(data, shape);
                latencies.Add(sw.Elapsed.TotalMilliseconds);
            }
            long runPeak = ProcessMemory.PeakRss();
            latencies.Sort();
            double median = latencies[latencies.Count / 2];
            const double MiB = 1024.0 * 1024.0;
            var r = new ThroughputResult(entry.Name, imageSize, batch, BenchMode.Inference, batch * 1000.0 / median, median,
                Math.Max(constructionPeak, runPeak) / MiB, Math.Max(0, runPeak - baseline) / MiB, parameters, Runtime: RuntimeName, Note: note);
            Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"{r.Model} @ {r.ImageSize} ×{r.Batch} (onnxruntime): {r.ImagesPerSecond:F2} img/s, {r.LatencyMs:F1} ms, peak RSS {r.PeakRssMiB:F0} MiB"));
            return r;
        }
    }
}
