using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// mmcv's <c>ConvModule</c> as mmsegmentation's heads use it: <c>conv</c> → <c>bn</c> → <c>activate</c> (ReLU). With a
/// norm the conv has no bias (mmcv <c>bias='auto'</c>); without one (the multi-level neck) it has a bias. Keys:
/// <c>conv.weight</c>[, <c>conv.bias</c>], <c>bn.weight</c>, <c>bn.bias</c>, <c>bn.running_mean</c>, <c>bn.running_var</c>,
/// <c>bn.num_batches_tracked</c>. Init as mmcv's <c>ConvModule.init_weights</c>: Kaiming-normal (fan_out, ReLU), bias 0,
/// BN weight 1 and bias 0.
/// </summary>
public sealed class ConvModule : Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly OwnedScalarBatchNorm2d? bn;
    private readonly bool relu;

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public bool Norm => bn is not null;
    /// <summary>Whether a ReLU follows (the exporter reads it).</summary>
    public bool Act => relu;

    public ConvModule(int inChannels, int outChannels, int kernelSize, bool norm = true, bool act = true) : base(nameof(ConvModule))
    {
        if (inChannels < 1 || outChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), $"channels {inChannels}→{outChannels} must be positive.");
        if (kernelSize < 1 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "expected an odd kernel size (same padding).");
        (InChannels, OutChannels, KernelSize, relu) = (inChannels, outChannels, kernelSize, act);
        conv = Conv2d(inChannels, outChannels, kernelSize, padding: kernelSize / 2, bias: !norm);
        if (norm) bn = new OwnedScalarBatchNorm2d(outChannels);
        RegisterComponents();
        using var _ = no_grad();
        init.kaiming_normal_(conv.weight!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        conv.bias?.zero_();
    }

    /// <summary>Parameters: k²·in·out (+ out for the conv bias without a norm) + 2·out (BN affine).</summary>
    public static long ParameterCount(long inChannels, long outChannels, int kernelSize, bool norm = true) =>
        (long)kernelSize * kernelSize * inChannels * outChannels + (norm ? 2 * outChannels : outChannels);

    /// <summary>Xavier-uniform conv weights, bias 0 (mmseg's <c>MultiLevelNeck.init_weights</c>).</summary>
    internal void XavierInit()
    {
        using var _ = no_grad();
        init.xavier_uniform_(conv.weight!);
        conv.bias?.zero_();
    }

    public override Tensor forward(Tensor x)
    {
        var y = Ops.OneDnnPointwiseGuard.Call(conv, x);
        if (bn is not null) y = bn.call(y);
        return relu ? functional.relu(y) : y;
    }
}
