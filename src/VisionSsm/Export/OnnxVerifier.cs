using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>How an export compares with our forward on one seeded input.</summary>
public sealed record OnnxParity(long Batch, double MaxAbsError, double MaxRelativeError, long Size = 0)
{
    /// <summary>The tolerance every export must meet (float32): max |onnx − ours| / max |ours| ≤ 1e-4.</summary>
    public const double Tolerance = 1e-4;
    public bool Passed => MaxRelativeError <= Tolerance;
}

/// <summary>
/// Runs an export in ONNX Runtime on a seeded standard-normal input and compares it with the model's own forward (eval,
/// no gradient). The error is relative to the output's scale, max_i |a_i − b_i| / max_i |b_i|: an element-wise ratio
/// is meaningless for logits near zero.
/// </summary>
public static class OnnxVerifier
{
    public static OnnxParity Compare(OnnxRuntimeSession session, VisionModel model, long[] inputShape, int seed = 0) =>
        Compare(session, model, model.forward, inputShape, seed);

    /// <summary>
    /// As above for any module, with <paramref name="forward"/> the function the graph computes (e.g. a segmentation
    /// model's <c>Predict</c>); the input is moved to <paramref name="model"/>'s parameter dtype and device.
    /// </summary>
    public static OnnxParity Compare(OnnxRuntimeSession session, TorchSharp.torch.nn.Module model, Func<Tensor, Tensor> forward, long[] inputShape, int seed = 0)
    {
        using var scope = NewDisposeScope();
        using var gen = new TorchSharp.torch.Generator((ulong)seed);
        var x = randn(inputShape, generator: gen, dtype: ScalarType.Float32);
        Tensor ours;
        using (no_grad())
        {
            var p = model.parameters().First();
            ours = forward(x.to(p.dtype, p.device)).to(ScalarType.Float64).cpu();
        }
        var (data, shape) = session.Run(x.data<float>().ToArray(), inputShape);
        if (!shape.SequenceEqual(ours.shape))
            throw new InvalidDataException($"the ONNX model outputs shape ({string.Join(", ", shape)}); our forward gives ({string.Join(", ", ours.shape)}).");
        var theirs = tensor(data, shape).to(ScalarType.Float64);
        double abs = (theirs - ours).abs().max().item<double>();
        double scale = ours.abs().max().item<double>();
        if (double.IsNaN(abs)) abs = double.PositiveInfinity;
        return new OnnxParity(inputShape[0], abs, scale > 0 ? abs / scale : abs, inputShape[^1]);
    }
}
