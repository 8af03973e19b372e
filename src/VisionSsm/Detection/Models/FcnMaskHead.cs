using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// mmdetection's <c>FCNMaskHead</c> (<c>mmdet/models/roi_heads/mask_heads/fcn_mask_head.py</c>, Mask R-CNN §3 Fig. 4):
/// <c>convs.{i}</c> 3×3 convs with bias + ReLU (mmcv ConvModule, no norm), <c>upsample</c> a 2×2 stride-2 transposed conv
/// + ReLU, and <c>conv_logits</c> 1×1 to one mask logit map per class: (R, C, S, S) → (R, K, 2S, 2S). Init: convs
/// Kaiming-normal (fan_out, ReLU), upsample and conv_logits likewise (mmdet's <c>init_weights</c>), biases 0.
/// </summary>
public sealed class FcnMaskHead : Module<Tensor, Tensor>
{
    private readonly ModuleList<ConvModule> convs;
    private readonly ConvTranspose2d upsample;
    private readonly Conv2d conv_logits;

    public int NumClasses { get; }

    public FcnMaskHead(int inChannels, int convChannels, int numConvs, int numClasses) : base(nameof(FcnMaskHead))
    {
        NumClasses = numClasses;
        convs = new ModuleList<ConvModule>(Enumerable.Range(0, numConvs)
            .Select(i => new ConvModule(i == 0 ? inChannels : convChannels, convChannels, 3, norm: false, act: true)).ToArray());
        int last = numConvs > 0 ? convChannels : inChannels;
        upsample = ConvTranspose2d(last, convChannels, 2, stride: 2);
        conv_logits = Conv2d(convChannels, numClasses, 1);
        RegisterComponents();
        using var _ = no_grad();
        foreach (var m in new Module[] { upsample, conv_logits })
        {
            init.kaiming_normal_(m.get_parameter("weight")!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
            m.get_parameter("bias")!.zero_();
        }
    }

    /// <summary>Closed form: n convs (9·c_in·C + C), deconv (4·C·C + C), logits (C + 1)·K.</summary>
    public static long ParameterCount(long inChannels, long convChannels, int numConvs, long numClasses)
    {
        long p = 0;
        for (int i = 0; i < numConvs; i++) p += 9 * (i == 0 ? inChannels : convChannels) * convChannels + convChannels;
        long last = numConvs > 0 ? convChannels : inChannels;
        return p + 4 * last * convChannels + convChannels + (convChannels + 1) * numClasses;
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var c in convs) x = c.call(x);
        x = functional.relu(upsample.call(x));
        return VisionSsm.Ops.OneDnnPointwiseGuard.Call(conv_logits, x).MoveToOuterDisposeScope();
    }
}
