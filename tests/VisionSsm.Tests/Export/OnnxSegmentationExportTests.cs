using Google.Protobuf;
using VisionSsm.Export;
using VisionSsm.Models;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Export;

/// <summary>
/// UperNet exports against <see cref="SegmentationModel.Predict"/> in ONNX Runtime for every backbone family (the nano
/// variants; Vim and DeiT with their necks at a 32² input), at odd sizes too; the adaptive-pool and resize emitters
/// against PyTorch's <c>adaptive_avg_pool2d</c> and <c>interpolate</c> over grids of sizes; the dynamic-size export at
/// two sizes; the errors.
/// </summary>
public class OnnxSegmentationExportTests
{
    static OnnxParity ExportAndCompare(SegmentationModel model, int size, OnnxExportOptions? options = null, int batch = 1)
    {
        model.eval();
        var onnx = OnnxExporter.Export(model, size, options ?? new OnnxExportOptions(Batch: batch));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        Assert.Equal(new long[] { batch, model.InChannels, size, size }, session.InputShape);
        return OnnxVerifier.Compare(session, model, model.Predict, onnx.InputShape, seed: 11);
    }

    static SegmentationModel Build(string family, int imageSize) => family switch
    {
        "vmamba" => SegmentationZoo.Create("upernet_vmamba_nano", new ModelOptions(NumClasses: 5, InChannels: 3, ImageSize: imageSize)),
        "resnet" => SegmentationZoo.Create("upernet_resnet_nano", new ModelOptions(NumClasses: 5, InChannels: 3, ImageSize: imageSize)),
        "vgamba" => new SegmentationModel(new SegmentationConfig("vgamba_nano", [0, 1, 2, 3], Channels: 16, AuxChannels: 0),
            new ModelOptions(NumClasses: 5, InChannels: 3, ImageSize: imageSize)),
        "vim" => new SegmentationModel(new SegmentationConfig("vim_nano", [1, 2, 3, 5], Neck: SegmentationNeck.Pyramid, Channels: 16, AuxChannels: 0),
            new ModelOptions(NumClasses: 5, InChannels: 3, ImageSize: imageSize)),
        "deit" => new SegmentationModel(new SegmentationConfig("deit_nano", [0, 1, 2, 3], Neck: SegmentationNeck.MultiLevel, NeckChannels: 16,
            Channels: 16, AuxChannels: 0), new ModelOptions(NumClasses: 5, InChannels: 3, ImageSize: imageSize)),
        _ => throw new ArgumentException(family),
    };

    /// <summary>
    /// Each family at a small size; VMamba and ResNet (any size) at odd ones, where the resizes are non-integer. Vim is
    /// covered by <see cref="FixedSideBackbonePadsSmallerInputs"/> (its whole graph, padded).
    /// </summary>
    [Theory]
    [InlineData("vmamba", 45)]
    [InlineData("resnet", 37)]
    [InlineData("vgamba", 28)]
    [InlineData("deit", 32)]
    public void SegmentationFamilyMatchesPredict(string family, int size)
    {
        manual_seed(21);
        using var model = Build(family, size);
        var parity = ExportAndCompare(model, size);
        Assert.True(parity.Passed, $"{family} @ {size}: relative error {parity.MaxRelativeError:E2}");
    }

    /// <summary>Opset 18 (Resize with the axes attribute, ReduceMean axes as an input) and a dynamic batch at two batches.</summary>
    [Fact]
    public void Opset18AndDynamicBatch()
    {
        manual_seed(22);
        using var model = Build("resnet", 29);
        model.eval();
        var onnx = OnnxExporter.Export(model, 29, new OnnxExportOptions(DynamicBatch: true, Opset: 18));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        Assert.Equal(-1, session.InputShape[0]);
        foreach (long b in new long[] { 1, 2 })
        {
            var parity = OnnxVerifier.Compare(session, model, model.Predict, [b, 3, 29, 29], seed: (int)b);
            Assert.True(parity.Passed, $"batch {b}: {parity.MaxRelativeError:E2}");
        }
    }

    /// <summary>A fixed-size backbone (Vim, built for 32²) exported at 24²: the graph pads to 32 and crops the logits, as our forward.</summary>
    [Fact]
    public void FixedSideBackbonePadsSmallerInputs()
    {
        manual_seed(23);
        using var model = Build("vim", 32);
        var parity = ExportAndCompare(model, 24);
        Assert.True(parity.Passed, $"{parity.MaxRelativeError:E2}");
        model.eval();
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.Export(model, 40));
        Assert.Contains("32×32", e.Message);
    }

    /// <summary>(input, output) pairs: divisible, non-divisible (overlapping bins), output larger than input, identity, 1.</summary>
    public static TheoryData<int, int, int, int> PoolGrid() => new()
    {
        { 8, 8, 1, 1 }, { 8, 8, 2, 2 }, { 6, 6, 3, 3 }, { 7, 7, 3, 3 }, { 7, 7, 6, 6 }, { 5, 5, 6, 6 }, { 4, 4, 6, 6 },
        { 13, 11, 2, 3 }, { 16, 16, 6, 6 }, { 3, 10, 3, 6 }, { 1, 1, 2, 2 }, { 2, 9, 1, 2 },
    };

    [Theory]
    [MemberData(nameof(PoolGrid))]
    public void AdaptiveAvgPoolMatchesTorch(int h, int w, int oh, int ow)
    {
        var g = new OnnxGraph(17);
        var x = g.Input("x", [-1, 3, h, w], dynamicBatch: true, 0);
        g.Output(OnnxSegmentationEmitter.AdaptiveAvgPool(g, x, oh, ow, "pool"), "y", dynamicBatch: true, 0);
        using var input = randn(2, 3, h, w, generator: new TorchSharp.torch.Generator(5));
        using var expected = nn.functional.adaptive_avg_pool2d(input.to(ScalarType.Float64), [oh, ow]);
        double err = Run(g, input, expected);
        Assert.True(err < 1e-6, $"{h}×{w} → {oh}×{ow}: {err:E2}");
    }

    /// <summary>The averaging matrix's rows are PyTorch's bins: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), weights summing to 1.</summary>
    [Fact]
    public void AdaptivePoolMatrixHasPyTorchBins()
    {
        // in 7 → out 3: bins [0, 3), [2, 5), [4, 7) (7/3 = 2.33: ⌊0⌋..⌈2.33⌉, ⌊2.33⌋..⌈4.67⌉, ⌊4.67⌋..⌈7⌉).
        var m = OnnxSegmentationEmitter.AdaptivePoolMatrix(7, 3);
        float t = 1f / 3;
        Assert.Equal(new[] { t, t, t, 0, 0, 0, 0, 0, 0, t, t, t, 0, 0, 0, 0, 0, 0, t, t, t }, m);
        // in 4 → out 6 (4/6 = 0.67): bins [0,1) [0,2) [1,2) [2,3) [2,4) [3,4).
        var up = OnnxSegmentationEmitter.AdaptivePoolMatrix(4, 6);
        Assert.Equal(new[] { 1f, 0, 0, 0, .5f, .5f, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, .5f, .5f, 0, 0, 0, 1 }, up);
    }

    public static TheoryData<int, int, int, int> ResizeGrid() => new()
    {
        { 4, 4, 16, 16 }, { 8, 8, 32, 32 }, { 15, 15, 61, 61 }, { 1, 1, 7, 7 }, { 3, 5, 7, 4 }, { 16, 16, 8, 8 }, { 9, 9, 4, 4 }, { 6, 6, 11, 13 },
    };

    [Theory]
    [MemberData(nameof(ResizeGrid))]
    public void ResizeMatchesTorchBilinear(int h, int w, int oh, int ow)
    {
        foreach (int opset in new[] { 17, 18 })
        {
            var g = new OnnxGraph(opset);
            var x = g.Input("x", [-1, 2, h, w], dynamicBatch: true, 0);
            g.Output(g.Resize(x, oh, ow), "y", dynamicBatch: true, 0);
            using var input = randn(2, 2, h, w, generator: new TorchSharp.torch.Generator(6));
            using var expected = nn.functional.interpolate(input.to(ScalarType.Float64), size: [oh, ow], mode: InterpolationMode.Bilinear, align_corners: false);
            double err = Run(g, input, expected);
            Assert.True(err < 1e-6, $"opset {opset}: {h}×{w} → {oh}×{ow}: {err:E2}");
        }
    }

    /// <summary>Runs a one-input graph in ONNX Runtime; max |y − expected| / max |expected|.</summary>
    static double Run(OnnxGraph g, Tensor input, Tensor expected)
    {
        var bytes = g.ToModel("test", new Dictionary<string, string>()).ToByteArray();
        using var session = new OnnxRuntimeSession(bytes, 1);
        var (data, shape) = session.Run(input.data<float>().ToArray(), input.shape);
        Assert.Equal(expected.shape, shape);
        using var actual = tensor(data, shape).to(ScalarType.Float64);
        return (actual - expected).abs().max().item<double>() / Math.Max(1e-12, expected.abs().max().item<double>());
    }

    /// <summary>A plain ResNet with symbolic height and width: one graph, run at 28² and 17², each against our forward.</summary>
    [Fact]
    public void DynamicSizeRunsAtTwoSizes()
    {
        manual_seed(24);
        using var model = ModelZoo.Create("resnet_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.eval();
        var onnx = OnnxExporter.Export(model, 1, 28, new OnnxExportOptions(DynamicSize: true));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        Assert.Equal(new long[] { 1, 1, -1, -1 }, session.InputShape);
        foreach (long s in new long[] { 28, 17 })
        {
            var parity = OnnxVerifier.Compare(session, model, [1, 1, s, s], seed: (int)s);
            Assert.True(parity.Passed, $"{s}²: {parity.MaxRelativeError:E2}");
        }
    }

    [Theory]
    [InlineData("vmamba_nano", "scan")]
    [InlineData("vim_nano", "position")]
    [InlineData("vgamba_nano", "positional")]
    public void DynamicSizeIsRefusedWhereTheGraphDependsOnTheSize(string name, string why)
    {
        using var model = ModelZoo.Create(name, new ModelOptions(NumClasses: 10, InChannels: 1));
        model.eval();
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.Export(model, 1, 28, new OnnxExportOptions(DynamicSize: true)));
        Assert.Contains(why, e.Message);
        Assert.Contains("dynamic spatial size", e.Message);
    }

    /// <summary>The run-time bins of a dynamic-size graph: one graph, every size of the grid, against adaptive_avg_pool2d.</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 6)]
    [InlineData(6, 6)]
    public void RunTimeAdaptiveAvgPoolMatchesTorch(int oh, int ow)
    {
        var g = new OnnxGraph(17);
        var x = g.Input("x", [-1, 3, -1, -1], ["batch", null, "height", "width"], 0);
        g.Output(OnnxSegmentationEmitter.AdaptiveAvgPool(g, x, oh, ow, "pool"), "y", ["batch", null, null, null], 0);
        foreach (var (h, w) in new[] { (8, 8), (7, 7), (5, 5), (4, 4), (13, 11), (3, 10), (1, 1), (2, 9) })
        {
            using var input = randn(2, 3, h, w, generator: new TorchSharp.torch.Generator(5));
            using var expected = nn.functional.adaptive_avg_pool2d(input.to(ScalarType.Float64), [oh, ow]);
            double err = Run(g, input, expected);
            Assert.True(err < 1e-6, $"{h}×{w} → {oh}×{ow}: {err:E2}");
        }
    }

    /// <summary>UperNet on a plain ResNet with symbolic height and width: one graph at 32² and 17² (odd: other bins and resizes).</summary>
    [Fact]
    public void ResNetUperNetDynamicSizeRunsAtTwoSizes()
    {
        manual_seed(25);
        using var model = Build("resnet", 32);
        model.eval();
        var onnx = OnnxExporter.Export(model, 32, new OnnxExportOptions(DynamicSize: true));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        Assert.Equal(new long[] { 1, 3, -1, -1 }, session.InputShape);
        foreach (long s in new long[] { 32, 17 })
        {
            var parity = OnnxVerifier.Compare(session, model, model.Predict, [1, 3, s, s], seed: (int)s);
            Assert.True(parity.Passed, $"{s}²: {parity.MaxRelativeError:E2}");
        }
    }

    [Fact]
    public void SegmentationDynamicSizeIsRefused()
    {
        using var model = Build("vmamba", 32);
        model.eval();
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.Export(model, 32, new OnnxExportOptions(DynamicSize: true)));
        Assert.Contains("adaptive-pooling", e.Message);
    }

    /// <summary>The library call routes segmentation names, records the task, and predict --onnx's classifier refuses the file.</summary>
    [Fact]
    public void ModelExportRoutesSegmentationNames()
    {
        var dir = Directory.CreateTempSubdirectory("vssm-seg-export");
        try
        {
            string path = Path.Combine(dir.FullName, "seg.onnx");
            var report = ModelExport.Run(new ExportRequest("upernet_resnet_nano", null, ExportFormat.Onnx, path, Size: 32));
            Assert.True(File.Exists(path));
            Assert.True(report.NodeCount > 0);
            Assert.All(report.Parity, p => Assert.True(p.Passed));
            using (var session = new OnnxRuntimeSession(path, 1))
                Assert.Equal("segmentation", session.Metadata[ModelExport.TaskKey]);
            var e = Assert.Throws<ArgumentException>(() => new OnnxClassifier(path, 1));
            Assert.Contains("segmentation", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void UnknownNameListsBothZoosAndWritesNothing()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vssm-{Guid.NewGuid():N}.onnx");
        var e = Assert.Throws<ArgumentException>(() => ModelExport.Run(new ExportRequest("upernet_nope", null, ExportFormat.Onnx, path)));
        Assert.Contains("vmamba_tiny_s1l8", e.Message);
        Assert.Contains("upernet_vmamba_tiny_s1l8", e.Message);
        Assert.False(File.Exists(path));
    }

    /// <summary>A state dict of one segmentation model given for another: a clear error, no file.</summary>
    [Fact]
    public void CheckpointOfAnotherSegmentationModelIsRefused()
    {
        var dir = Directory.CreateTempSubdirectory("vssm-seg-export");
        try
        {
            string pth = Path.Combine(dir.FullName, "resnet.pth"), onnx = Path.Combine(dir.FullName, "x.onnx");
            ModelExport.Run(new ExportRequest("upernet_resnet_nano", null, ExportFormat.Pth, pth, Size: 32));
            var e = Assert.ThrowsAny<Exception>(() => ModelExport.Run(new ExportRequest("upernet_vmamba_nano", pth, ExportFormat.Onnx, onnx, Size: 32)));
            Assert.True(e is InvalidDataException or ArgumentException, e.GetType().Name + ": " + e.Message);
            Assert.False(File.Exists(onnx));
        }
        finally { dir.Delete(true); }
    }
}
