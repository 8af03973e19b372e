using VisionSsm.Export;
using VisionSsm.Layers;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Export;

/// <summary>
/// Every zoo family's ONNX export against our forward, run in ONNX Runtime on a seeded input (the export's own parity
/// check, OnnxVerifier, compared with the 1e-4 float32 tolerance), at the small variants; plus the variants that take
/// other emitter branches (vanilla VMamba: z gate, d_state 16, patch merging; vGamba's ablations and fixed layout).
/// </summary>
public class OnnxExportTests
{
    static OnnxParity ExportAndCompare(VisionModel model, int channels, int size, OnnxExportOptions? options = null, int batch = 2)
    {
        model.eval();
        var onnx = OnnxExporter.Export(model, channels, size, options ?? new OnnxExportOptions(Batch: batch));
        Assert.True(onnx.NodeCount > 0);
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        return OnnxVerifier.Compare(session, model, onnx.InputShape, seed: 3);
    }

    [Theory]
    [InlineData("vmamba_nano")]
    [InlineData("vim_nano")]
    [InlineData("vgamba_nano")]
    [InlineData("resnet_nano")]
    [InlineData("deit_nano")]
    public void ZooFamilyMatchesOurForward(string name)
    {
        manual_seed(1);
        using var model = ModelZoo.Create(name, new ModelOptions(NumClasses: 10, InChannels: 1));
        var parity = ExportAndCompare(model, 1, ModelZoo.Get(name).DefaultImageSize);
        Assert.True(parity.Passed, $"{name}: relative error {parity.MaxRelativeError:E2}");
        Assert.True(parity.MaxRelativeError < OnnxParity.Tolerance);
    }

    /// <summary>The vanilla form (docs/models/vmamba.md §10) at an odd map side, so patch merging pads.</summary>
    [Fact]
    public void VanillaVMambaMatchesOurForward()
    {
        manual_seed(2);
        using var model = new VMamba(new VMambaConfig([16, 32], [1, 1], MlpRatio: 0, V0: true), new ModelOptions(NumClasses: 5));
        var parity = ExportAndCompare(model, 3, 24);   // 24 / 4 = 6, then 3: no padding; 28 → 7 pads
        Assert.True(parity.Passed, $"{parity.MaxRelativeError:E2}");
        using var odd = new VMamba(new VMambaConfig([16, 32], [1, 1], MlpRatio: 0, V0: true), new ModelOptions(NumClasses: 5));
        var oddParity = ExportAndCompare(odd, 3, 28);
        Assert.True(oddParity.Passed, $"odd: {oddParity.MaxRelativeError:E2}");
    }

    public static TheoryData<string> GambaVariants() => new() { "fixed", "mhsa_only", "cell_only", "no_fusion", "no_mask_no_pos", "bidirectional" };

    [Theory]
    [MemberData(nameof(GambaVariants))]
    public void VGambaVariantMatchesOurForward(string variant)
    {
        var c = VGambaFamily.Nano;
        c = variant switch
        {
            "fixed" => c.Fixed(),
            "mhsa_only" => c with { Mixer = GambaMixer.MhsaOnly },
            "cell_only" => c with { Mixer = GambaMixer.CellOnly },
            "no_fusion" => c with { Mixer = GambaMixer.Concatenated },
            "no_mask_no_pos" => c with { ContextMask = false, PositionalEmbedding = false },
            _ => c with { BidirectionalCell = true },
        };
        manual_seed(4);
        using var model = new VGamba(c, new ModelOptions(NumClasses: 7, InChannels: 1));
        var parity = ExportAndCompare(model, 1, 28);
        Assert.True(parity.Passed, $"{variant}: {parity.MaxRelativeError:E2}");
    }

    /// <summary>One graph with a symbolic batch, run at batch 1 and 3, each against our forward.</summary>
    [Fact]
    public void DynamicBatchRunsAtTwoBatchSizes()
    {
        manual_seed(5);
        using var model = ModelZoo.Create("vmamba_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.eval();
        var onnx = OnnxExporter.Export(model, 1, 28, new OnnxExportOptions(DynamicBatch: true));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        Assert.Equal(-1, session.InputShape[0]);
        foreach (long b in new long[] { 1, 3 })
        {
            var parity = OnnxVerifier.Compare(session, model, [b, 1, 28, 28], seed: (int)b);
            Assert.True(parity.Passed, $"batch {b}: {parity.MaxRelativeError:E2}");
        }
    }

    /// <summary>A static-batch graph declares the batch it was built for.</summary>
    [Fact]
    public void StaticBatchIsDeclared()
    {
        using var model = ModelZoo.Create("resnet_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.eval();
        var onnx = OnnxExporter.Export(model, 1, 28, new OnnxExportOptions(Batch: 4, Opset: 20));
        using var session = new OnnxRuntimeSession(onnx.Bytes, 1);
        Assert.Equal(new long[] { 4, 1, 28, 28 }, session.InputShape);
    }

    [Fact]
    public void TrainingModeIsRefused()
    {
        using var model = ModelZoo.Create("resnet_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.train();
        var e = Assert.Throws<InvalidOperationException>(() => OnnxExporter.Export(model, 1, 28));
        Assert.Contains("eval", e.Message);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(22)]
    public void OpsetOutsideTheSupportedRangeIsRefused(int opset)
    {
        using var model = ModelZoo.Create("resnet_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        model.eval();
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.Export(model, 1, 28, new OnnxExportOptions(Opset: opset)));
    }
}
