using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// VMamba's <c>Linear2d</c> (docs/models/vmamba.md §2): a linear layer over the channels of a (B, C, H, W) map — the
/// official code applies it as a 1×1 conv2d but stores the weight 2-D (out, in), which is the state_dict shape here.
/// Computed as a 1×1 conv2d on large maps (oneDNN's 1×1 kernel measured 1.7× faster than the GEMM at VMamba-T
/// stage 1, batch 8) and as a GEMM on the free NHWC view on small ones (faster at 7²); channels-last input costs no
/// copy either way and the output is channels-last.
/// Initialisation docs/models/vmamba.md §7: trunc_normal(std 0.02), bias 0.
/// </summary>
public sealed class Linear2d : Module<Tensor, Tensor>
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

    /// <summary>Maps with more positions than this use the 1×1 conv path (bench: <c>vmamba --linear</c>).</summary>
    const long ConvMinPositions = 256;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InFeatures)
            throw new ArgumentException($"Linear2d expects (B, {InFeatures}, H, W); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        if (x.shape[2] * x.shape[3] > ConvMinPositions && Ops.ChannelsLast.Is(x))
        {
            using var w4 = weight.view(OutFeatures, InFeatures, 1, 1);
            return nn.functional.conv2d(x, w4, bias);
        }
        using var nhwc = x.permute(0, 2, 3, 1);
        using var y = Ops.TokenLinear.Apply(nhwc, weight, bias);
        return y.permute(0, 3, 1, 2);
    }
}
