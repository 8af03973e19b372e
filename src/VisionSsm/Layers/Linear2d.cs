using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Analysis;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// VMamba's <c>Linear2d</c> (reference-spec.md §2.2): a linear layer over the channels of a (B, C, H, W) map — the
/// official code applies it as a 1×1 conv2d but stores the weight 2-D (out, in), which is the state_dict shape here.
/// Computed as a GEMM on the NHWC view, so channels-last input costs no copy; the output is channels-last.
/// Initialisation §2.7: trunc_normal(std 0.02), bias 0.
/// </summary>
public sealed class Linear2d : Module<Tensor, Tensor>, IFlopCounted
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Linear2d(long inFeatures, long outFeatures, bool hasBias = true) : base(nameof(Linear2d))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = Parameter(empty(outFeatures, inFeatures));
        bias = hasBias ? Parameter(zeros(outFeatures)) : null;
        WeightInit.TruncNormal(weight, 0.02);
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InFeatures)
            throw new ArgumentException($"Linear2d expects (B, {InFeatures}, H, W); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var nhwc = x.permute(0, 2, 3, 1);
        using var y = nn.functional.linear(nhwc, weight, bias);
        return y.permute(0, 3, 1, 2);
    }

    /// <summary>fvcore counts the 1×1 <c>aten::_convolution</c>: numel(out)·in, bias not counted (§2.8).</summary>
    public void CountFlops(FlopCounter counter, Tensor input, Tensor output)
    {
        counter.Add("conv", output.numel() * InFeatures);
        counter.MarkVisible(this);
    }
}
