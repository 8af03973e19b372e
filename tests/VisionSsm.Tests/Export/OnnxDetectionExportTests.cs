using VisionSsm.Detection.Models;
using VisionSsm.Export;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Tests.Detection.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Export;

/// <summary>
/// Mask R-CNN exports against <see cref="MaskRcnn.Predict"/> in ONNX Runtime: the same detections (count and labels in
/// rank order) with boxes and scores within 1e-4 relative and masks within 1e-4 (OnnxDetectionVerifier's sigmoid criterion), on backbones of three families (a
/// hierarchical one with output norms, a convolutional one, a plain one with Vim's pyramid padded to its built side);
/// and the refusals of a dynamic size and batch. Runs in the serial collection: the seeded weights must be the ones <see cref="Confident"/> draws, which parallel tests
/// drawing from libtorch's global generator would change (and a model with near-tied scores may rank them differently).
/// </summary>
[Collection(Cli.SerialTrainingCollection.Name)]
public class OnnxDetectionExportTests(ITestOutputHelper output)
{
    /// <summary>
    /// A seeded tiny detector whose heads give confident, well-spread scores: the RPN and class logits scaled up, so the
    /// graph's top-k, NMS and score threshold all have work to do and no two candidates tie within float rounding.
    /// </summary>
    static MaskRcnn Confident(string backbone, bool outNorms, int[] indices, bool pyramid, int? side, double finestScale = 8)
    {
        manual_seed(31);
        // FinestScale 8 spreads the RoIs of a 64² image over all four levels (sides under 16, 16–32, 32–64, larger).
        var cfg = MaskRcnnTests.Tiny(backbone, outNorms) with { FeatureIndices = indices, Pyramid = pyramid, DropChildren = outNorms ? ["classifier"] : null, FinestScale = finestScale };
        var model = new MaskRcnn(cfg, new ModelOptions(NumClasses: 3, ImageSize: side));
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name is "rpn_head.rpn_cls.weight") p.OverInPlace(1.0 / 300);
                else if (name is "roi_head.bbox_head.fc_cls.weight") p.OverInPlace(1.0 / 100);
                else if (name is "roi_head.bbox_head.fc_reg.weight") p.OverInPlace(1.0 / 50);
        model.eval();
        return model;
    }

    [Theory]
    [InlineData("vmamba_nano", true, new[] { 0, 1, 2, 3 }, false, 64, null, 8.0)]
    [InlineData("resnet_nano", false, new[] { 0, 1, 2, 3 }, false, 64, null, 8.0)]
    // Vim's pyramid, padded from 40² to its built side 48², RoIs on its finer levels (level rule at 28 px).
    [InlineData("vim_nano", false, new[] { 1, 2, 4, 5 }, true, 40, 48, 28.0)]
    public void DetectorMatchesPredict(string backbone, bool outNorms, int[] indices, bool pyramid, int size, int? side, double finestScale)
    {
        using var model = Confident(backbone, outNorms, indices, pyramid, side, finestScale);
        var onnx = OnnxExporter.Export(model, size);
        using var session = new OnnxRuntimeSession(onnx.Bytes, 2);
        using var image = OnnxDetectionVerifier.SeededImage(3, size, 5);
        var parity = OnnxDetectionVerifier.Compare(session, model, image);
        output.WriteLine($"{backbone} @ {size}: {onnx.NodeCount} nodes; {parity}");
        Assert.True(parity.Detections >= 3, $"the seeded model should detect something: {parity}");
        Assert.True(parity.Passed, parity.ToString());
    }

    [Fact]
    public void DynamicSizeAndBatchAreRefused()
    {
        using var model = Confident("resnet_nano", false, [0, 1, 2, 3], false, null);
        var size = Assert.Throws<NotSupportedException>(() => OnnxExporter.Export(model, 64, new OnnxExportOptions(DynamicSize: true)));
        Assert.Contains("fixed spatial size", size.Message);
        var batch = Assert.Throws<NotSupportedException>(() => OnnxExporter.Export(model, 64, new OnnxExportOptions(Batch: 2)));
        Assert.Contains("batch 1", batch.Message);

        string dir = Path.Combine(Path.GetTempPath(), "vssm-tests", $"det-export-{Guid.NewGuid():N}");
        string file = Path.Combine(dir, "det.onnx");
        var cli = Assert.Throws<ArgumentException>(() => ModelExport.Run(new ExportRequest("maskrcnn_vmamba_nano", null, ExportFormat.Onnx, file, 64, DynamicSize: true)));
        Assert.Equal("dynamic-size", cli.ParamName);
        var cliBatch = Assert.Throws<ArgumentException>(() => ModelExport.Run(new ExportRequest("maskrcnn_vmamba_nano", null, ExportFormat.Onnx, file, 64, DynamicBatch: true)));
        Assert.Equal("dynamic-batch", cliBatch.ParamName);
        Assert.False(File.Exists(file));
    }

    /// <summary>The criterion: another count, a label at some rank, or any error above 1e-4 fails.</summary>
    [Fact]
    public void ParityCriterion()
    {
        Assert.True(new DetectionParity(5, 5, 0, 1e-6, 1e-6, 1e-5, 64).Passed);
        Assert.False(new DetectionParity(5, 4, 0, 0, 0, 0, 64).Passed);
        Assert.False(new DetectionParity(5, 5, 1, 0, 0, 0, 64).Passed);
        Assert.False(new DetectionParity(5, 5, 0, 0, 0, 2e-4, 64).Passed);
        Assert.False(new DetectionParity(5, 5, 0, 2e-4, 0, 0, 64).Passed);
    }

    /// <summary>
    /// The mask criterion from σ's calculus: each element passes when either its probability error or the logit error it
    /// implies (Δp / σ′(z), over the logits' scale) is small, and fails when both are large.
    /// </summary>
    [Fact]
    public void SigmoidCriterion()
    {
        static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));
        static double Err(double[] z, double[] p) =>
            OnnxDetectionVerifier.SigmoidError(tensor(z), ("masks", p.Select(v => (float)v).ToArray(), [z.Length]));
        // Tiny logits (scale 0.01): Δp = 1e-5 is a logit error of 4e-5, 4e-3 of the scale, but the probabilities agree.
        Assert.True(Err([0.01, -0.005], [Sigmoid(0.01) + 1e-5, Sigmoid(-0.005)]) <= 1.1e-5);
        // Large logits (scale 1000): Δp = 1e-3 at z = 0 is a logit error of 4e-3, 4e-6 of the scale.
        Assert.True(Err([1000, 0], [1, 0.5 + 1e-3]) <= 5e-6);
        // Both large: Δp = 0.1 at z = 0 with logits of scale 1.
        Assert.True(Err([1, 0], [Sigmoid(1), 0.6]) > 0.09);
    }
}
