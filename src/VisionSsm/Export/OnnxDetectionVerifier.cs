using VisionSsm.Detection;
using VisionSsm.Detection.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// How a detector's export compares with <see cref="MaskRcnn.Predict"/> on one image. The criterion (docs/export.md §7):
/// the same detections — the same count, and at each rank (both lists are by decreasing score) the same label — with
/// boxes and scores within <see cref="OnnxParity.Tolerance"/> relative to their scale (max |onnx − ours| / max |ours|),
/// and mask probabilities within it as the logit error they imply, relative to the logits' scale
/// (max Δp / (σ′(z)·max |z|), beyond one float32 ulp of p).
/// </summary>
public sealed record DetectionParity(int Detections, int OnnxDetections, int LabelMismatches, double BoxError, double ScoreError, double MaskError, long Size)
{
    public double MaxRelativeError => Math.Max(BoxError, Math.Max(ScoreError, MaskError));

    public bool Passed => Detections == OnnxDetections && LabelMismatches == 0 && MaxRelativeError <= OnnxParity.Tolerance;

    public override string ToString() => Detections != OnnxDetections
        ? $"{OnnxDetections} detections in ONNX Runtime, {Detections} in ours"
        : $"{Detections} detections, {LabelMismatches} labels differ; boxes {BoxError:E2}, scores {ScoreError:E2}, masks {MaskError:E2} (max relative error)";
}

/// <summary>Runs a detector's export (<see cref="OnnxExporter.Export(MaskRcnn, int, OnnxExportOptions?, IReadOnlyDictionary{string, string}?)"/>) in ONNX Runtime against our Predict.</summary>
public static class OnnxDetectionVerifier
{
    /// <summary>
    /// A seeded test image (1, C, S, S): standard-normal noise at 1/8 of the side, bilinearly upsampled and scaled by 2 — smooth
    /// blobs with edges at several scales, which give a trained detector boxes to find, unlike pixel noise.
    /// </summary>
    public static Tensor SeededImage(int channels, int size, int seed)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator((ulong)seed);
        long low = Math.Max(2, size / 8);
        var x = randn([1, channels, low, low], generator: gen, dtype: ScalarType.Float32);
        var up = nn.functional.interpolate(x, [size, size], mode: InterpolationMode.Bilinear, align_corners: false);
        return up.Times(2.0).MoveToOuterDisposeScope();
    }

    /// <summary>Compares the export in <paramref name="session"/> with <paramref name="model"/>'s Predict on <paramref name="image"/> (1, C, S, S) float32.</summary>
    public static DetectionParity Compare(OnnxRuntimeSession session, MaskRcnn model, Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.dim() != 4 || image.shape[0] != 1) throw new ArgumentException($"expected one image (1, C, H, W); got [{string.Join(", ", image.shape)}].", nameof(image));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var p = model.parameters().First();
        var x = image.to(p.dtype, p.device);
        int h = (int)image.shape[2], w = (int)image.shape[3];
        var det = model.Predict(x, [new ImageMeta(h, w, h, w)])[0];
        Tensor? maskLogits = null;
        if (model.PredictsMasks && det.Boxes.shape[0] > 0)
        {
            var feats = model.ExtractFeatures(x);
            maskLogits = model.Roi.MaskLogits(feats.Take(feats.Count - 1).ToArray(), det.Boxes, det.Labels, 0);
        }
        var outputs = session.RunAll(image.contiguous().data<float>().ToArray(), image.shape).ToDictionary(o => o.Name);
        int ours = (int)det.Boxes.shape[0], theirs = (int)outputs["scores"].Shape[0];
        if (ours != theirs) return new DetectionParity(ours, theirs, 0, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity, h);
        if (ours == 0) return new DetectionParity(0, 0, 0, 0, 0, 0, h);
        var labels = HostArrays.Longs(det.Labels);
        int mismatches = labels.Where((l, i) => (long)Math.Round(outputs["labels"].Data[i]) != l).Count();
        double boxes = Error(det.Boxes, outputs["boxes"]);
        double scores = Error(det.Scores, outputs["scores"]);
        double masks = maskLogits is null ? 0 : SigmoidError(maskLogits, outputs["masks"]);
        return new DetectionParity(ours, theirs, mismatches, boxes, scores, masks, h);
    }

    /// <summary>
    /// The error of sigmoid outputs, element by element the smaller of two readings, each within its own scale: the
    /// probability error Δp (probabilities have scale 1, the criterion every other export meets), and the logit error it
    /// implies, Δp / σ′(z), relative to the logits' scale max |z|. Either one small means the element is right to float32
    /// rounding: a model with large logits carries rounding in z that σ′ ≤ ¼ can pass on to p as more than 1e-4 (a
    /// logit of 10³ has 10⁻⁴ of it), and a head with tiny logits (an untrained one) has a logit scale that float32
    /// rounding of its larger inputs dwarfs, while its probabilities agree.
    /// </summary>
    internal static double SigmoidError(Tensor ourLogits, (string Name, float[] Data, long[] Shape) onnx)
    {
        if (!onnx.Shape.SequenceEqual(ourLogits.shape))
            throw new InvalidDataException($"the ONNX output '{onnx.Name}' has shape ({string.Join(", ", onnx.Shape)}); ours is ({string.Join(", ", ourLogits.shape)}).");
        var z = HostArrays.Doubles(ourLogits);
        double scale = z.Length == 0 ? 0 : z.Max(Math.Abs);
        if (scale == 0) scale = 1;
        double worst = 0;
        for (int i = 0; i < z.Length; i++)
        {
            double p = 1 / (1 + Math.Exp(-z[i]));
            // A float32 probability resolves no better than one ulp at 1 (2⁻²³); only what exceeds it is an error.
            double dp = Math.Abs(onnx.Data[i] - p) - 1.0 / (1 << 23);
            if (double.IsNaN(dp)) return double.PositiveInfinity;
            if (dp <= 0) continue;
            double slope = Math.Max(p * (1 - p), 1e-300);
            worst = Math.Max(worst, Math.Min(dp, dp / slope / scale));
        }
        return worst;
    }

    /// <summary>max |onnx − ours| / max |ours| (NaN counts as infinite).</summary>
    static double Error(Tensor ours, (string Name, float[] Data, long[] Shape) onnx)
    {
        if (!onnx.Shape.SequenceEqual(ours.shape))
            throw new InvalidDataException($"the ONNX output '{onnx.Name}' has shape ({string.Join(", ", onnx.Shape)}); ours is ({string.Join(", ", ours.shape)}).");
        var a = HostArrays.Doubles(ours);
        double abs = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs(onnx.Data[i] - a[i]);
            abs = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(abs, d);
            scale = Math.Max(scale, Math.Abs(a[i]));
        }
        return scale > 0 ? abs / scale : abs;
    }
}
