using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// RMSNorm over the last dimension (mamba_ssm <c>RMSNorm</c>, reference-spec.md §3.3):
/// <c>y = x · rsqrt(mean(x²) + eps) · weight</c>. Weight only (no bias), initialised to 1. Computed in at least
/// float32 and cast back to the input dtype, as the fused kernel does.
/// </summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    public long NormalizedShape { get; }
    public double Eps { get; }

    private readonly Parameter weight;

    public RmsNorm(long normalizedShape, double eps = 1e-5, Device? device = null) : base(nameof(RmsNorm))
    {
        if (normalizedShape < 1) throw new ArgumentOutOfRangeException(nameof(normalizedShape), normalizedShape, "expected ≥ 1");
        NormalizedShape = normalizedShape;
        Eps = eps;
        weight = Parameter(ones(normalizedShape, device: device));
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() < 1 || x.shape[^1] != NormalizedShape)
            throw new ArgumentException($"RmsNorm expects (…, {NormalizedShape}); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var scope = NewDisposeScope();
        var xf = Float32OrWider(x);
        var y = xf * rsqrt(xf.square().mean([-1L], keepdim: true) + Eps) * weight.to_type(xf.dtype);
        return y.to_type(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>x unchanged if it is float32 or float64, else x cast to float32 (residual_in_fp32, §3.3).</summary>
    public static Tensor Float32OrWider(Tensor x) =>
        x.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
}
