using VisionSsm.Analysis;
using VisionSsm.Cli;
using VisionSsm.Tests.Cli;

namespace VisionSsm.Tests.Analysis;

/// <summary>`vssm bench`'s measurements: one child process per point, each reporting its own peak memory.
/// Nothing here asserts a speed; timings only have to exist.</summary>
public class IsolatedBenchmarkTests
{
    static IsolatedBenchmark Bench(BenchMode mode = BenchMode.Inference) =>
        new() { Launcher = BenchCommand.SelfLauncher(), Mode = mode, MinSeconds = 0.01, Threads = 1 };

    /// <summary>One untimed and one timed pass: enough for the dense tasks' heavier points to report.</summary>
    static IsolatedBenchmark Quick(BenchMode mode = BenchMode.Inference) =>
        new() { Launcher = BenchCommand.SelfLauncher(), Mode = mode, MinSeconds = 0.01, Threads = 1, Warmup = 1, MinIterations = 1 };

    static void Plausible(ThroughputResult r)
    {
        Assert.True(r.Error is null, r.Error);
        Assert.True(r.ImagesPerSecond > 0 && double.IsFinite(r.ImagesPerSecond), r.ToString());
        Assert.True(r.LatencyMs > 0, r.ToString());
        Assert.True(r.PeakRssMiB > 50, r.ToString()); // the runtime and libtorch alone are more than this
        Assert.True(r.PeakOverModelMiB >= 0 && r.PeakOverModelMiB < r.PeakRssMiB, r.ToString());
        Assert.True(r.Parameters > 0, r.ToString());
    }

    [Fact]
    public void EachPointHasItsOwnPeak()
    {
        // The big batch runs first: a process-wide high-water mark would make the small one report at least as much.
        var results = Bench().Run([new BenchPoint("deit_nano", 64, 16), new BenchPoint("deit_nano", 64, 1)]);
        Assert.Equal(2, results.Count);
        var (big, small) = (results[0], results[1]);
        Plausible(big);
        Plausible(small);
        Assert.Equal(16, big.Batch);
        Assert.Equal(1, small.Batch);
        Assert.True(big.PeakRssMiB > small.PeakRssMiB + 20, $"batch 16: {big}\nbatch 1: {small}");
        Assert.True(big.PeakOverModelMiB > small.PeakOverModelMiB, $"batch 16: {big}\nbatch 1: {small}");
    }

    [Fact]
    public void TrainingStepIsMeasured()
    {
        var r = Bench(BenchMode.Training).Measure(new BenchPoint("deit_nano", 32, 4));
        Plausible(r);
        Assert.Equal(BenchMode.Training, r.Mode);
        Assert.True(r.PeakOverModelMiB > 0, r.ToString()); // gradients and AdamW state at least
    }

    [Fact]
    public void SegmentationPointsAreMeasured()
    {
        // Non-square inference: the width travels through the child's arguments and back in its JSON line.
        var infer = Quick().Measure(new BenchPoint("upernet_vmamba_nano", new BenchSize(64, 96), 1));
        Plausible(infer);
        Assert.Equal(new BenchSize(64, 96), infer.Size);
        Assert.Equal(BenchMode.Inference, infer.Mode);
        var train = Quick(BenchMode.Training).Measure(new BenchPoint("upernet_vmamba_nano", new BenchSize(64), 2));
        Plausible(train);
        Assert.Equal((new BenchSize(64), 2, BenchMode.Training), (train.Size, train.Batch, train.Mode));
        Assert.True(train.PeakOverModelMiB > 0, train.ToString());
        Assert.Equal(infer.Parameters, train.Parameters);
    }

    [Fact]
    public void DetectionPointsAreMeasured()
    {
        var infer = Quick().Measure(new BenchPoint("maskrcnn_vmamba_nano", new BenchSize(96), 1));
        Plausible(infer);
        Assert.Equal((new BenchSize(96), BenchMode.Inference), (infer.Size, infer.Mode));
        var train = Quick(BenchMode.Training).Measure(new BenchPoint("maskrcnn_vmamba_nano", new BenchSize(64), 1));
        Plausible(train);
        Assert.Equal(BenchMode.Training, train.Mode);
        Assert.True(train.PeakOverModelMiB > 0, train.ToString());
    }

    [Fact]
    public void ASizeTheModelCannotTakeIsBadInput()
    {
        var r = Bench().Measure(new BenchPoint("deit_nano", 10, 1));
        Assert.True(r.BadInput, r.ToString());
        Assert.Contains("cannot take 3×10×10", r.Error);
    }

    [Fact]
    public void AChildThatCannotStartIsAClearError()
    {
        var bench = new IsolatedBenchmark { Launcher = ("/nonexistent/vssm", []) };
        var e = Assert.Throws<InvalidOperationException>(() => bench.Measure(new BenchPoint("deit_nano", 8, 1)));
        Assert.Contains("/nonexistent/vssm", e.Message);
    }

    [Fact]
    public void ChildWithoutAResultIsAFailedPoint()
    {
        // `vssm.dll --help` exits without printing a result line.
        var (host, args) = BenchCommand.SelfLauncher();
        var bench = new IsolatedBenchmark { Launcher = (host, args.Take(args.Count - 1).Append("--version").ToList()) };
        var r = bench.Measure(new BenchPoint("deit_nano", 8, 1));
        Assert.NotNull(r.Error);
        Assert.Contains("without a result", r.Error);
    }

    [Theory]
    [InlineData(136, "SIGFPE")]
    [InlineData(137, "SIGKILL")]
    [InlineData(139, "SIGSEGV")]
    [InlineData(134, "SIGABRT")]
    [InlineData(143, "signal 15")]
    [InlineData(1, "")]
    public void SignalExitCodesAreNamed(int code, string expected)
    {
        string reason = IsolatedBenchmark.ExitReason(code);
        if (expected.Length == 0) Assert.Equal("", reason);
        else Assert.Contains(expected, reason);
    }

    [Fact]
    public void PlotIsWritten()
    {
        string png = Path.Combine(CliHarness.TempDir("plot"), "sub", "bench.png");
        ThroughputResult R(string m, int s, double ips, double mib) => new(m, s, 1, BenchMode.Inference, ips, 1000 / ips, mib, mib - 150, 1000);
        ThroughputBenchmark.SavePlot([R("a", 224, 100, 300), R("a", 384, 30, 500), R("b", 224, 80, 320), R("b", 384, 40, 420),
            new("c", 224, 1, BenchMode.Inference, double.NaN, double.NaN, double.NaN, double.NaN, 0, "failed")], png);
        Assert.True(new FileInfo(png).Length > 1000);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(png)!, ".tmp-*"));
    }

    [Fact]
    public void NonSquareSizesAreLabelledHxW()
    {
        ThroughputResult R(int h, int? w, double ips) => new("seg", h, 2, BenchMode.Inference, ips, 2000 / ips, 900, 300, 1000, Width: w);
        var results = new[] { R(512, 2048, 1), R(512, null, 4), R(256, 1024, 2) };
        var table = ThroughputBenchmark.FormatTable(results);
        var rows = table.Split('\n').Where(l => l.StartsWith("| seg |", StringComparison.Ordinal)).ToList();
        // Ordered by pixel count: 512² (262,144) < 256×1024 (262,144, shorter first) < 512×2048.
        Assert.Equal(["| seg | 256x1024 |", "| seg | 512 |", "| seg | 512x2048 |"], rows.Select(r => r[..r.IndexOf(" | 2 |", StringComparison.Ordinal)] + " |"));
        string png = Path.Combine(CliHarness.TempDir("plot"), "hxw.png");
        ThroughputBenchmark.SavePlot(results, png);
        Assert.True(new FileInfo(png).Length > 1000);
    }

    [Fact]
    public void ResultsCarryTheirWidth()
    {
        // The child's JSON line carries the width of a non-square point, and none for a square one (read as before).
        var wide = new ThroughputResult("m", 512, 1, BenchMode.Training, 1, 1000, 900, 100, 10, Width: 2048);
        Assert.Contains("\"Width\":2048", IsolatedBenchmark.WriteResult(wide));
        Assert.Contains("\"Width\":null", IsolatedBenchmark.WriteResult(wide with { Width = null }));
        Assert.Equal(new BenchSize(512, 2048), wide.Size);
        Assert.Equal(new BenchSize(512), (wide with { Width = null }).Size);
        Assert.DoesNotContain("\"Size\"", IsolatedBenchmark.WriteResult(wide));
    }
}
