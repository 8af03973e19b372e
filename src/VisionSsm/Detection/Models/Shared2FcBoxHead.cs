using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// mmdetection's <c>Shared2FCBBoxHead</c> (<c>mmdet/models/roi_heads/bbox_heads/convfc_bbox_head.py</c>): the RoI
/// features (R, C, S, S) flattened, two shared FCs <c>shared_fcs.{0,1}</c> with ReLU, then <c>fc_cls</c> (K + 1 logits,
/// background last) and <c>fc_reg</c> (class-specific deltas, 4K). Init as mmdet: shared FCs Xavier-uniform, fc_cls
/// normal(0, 0.01), fc_reg normal(0, 0.001), biases 0.
/// </summary>
public sealed class Shared2FcBoxHead : Module<Tensor, (Tensor Cls, Tensor Reg)>
{
    private readonly ModuleList<Linear> shared_fcs;
    private readonly Linear fc_cls;
    private readonly Linear fc_reg;

    public int NumClasses { get; }

    public Shared2FcBoxHead(int inChannels, int roiSize, int fcChannels, int numClasses) : base(nameof(Shared2FcBoxHead))
    {
        NumClasses = numClasses;
        shared_fcs = new ModuleList<Linear>(Linear(inChannels * roiSize * roiSize, fcChannels), Linear(fcChannels, fcChannels));
        fc_cls = Linear(fcChannels, numClasses + 1);
        fc_reg = Linear(fcChannels, 4 * numClasses);
        RegisterComponents();
        using var _ = no_grad();
        foreach (var fc in shared_fcs) { init.xavier_uniform_(fc.weight!); fc.bias!.zero_(); }
        init.normal_(fc_cls.weight!, 0, 0.01); fc_cls.bias!.zero_();
        init.normal_(fc_reg.weight!, 0, 0.001); fc_reg.bias!.zero_();
    }

    /// <summary>Closed form: (C·S² + 1)·F + (F + 1)·F + (F + 1)(K + 1) + (F + 1)·4K.</summary>
    public static long ParameterCount(long inChannels, long roiSize, long fc, long numClasses) =>
        (inChannels * roiSize * roiSize + 1) * fc + (fc + 1) * fc + (fc + 1) * (numClasses + 1) + (fc + 1) * 4 * numClasses;

    public override (Tensor Cls, Tensor Reg) forward(Tensor roiFeatures)
    {
        using var scope = NewDisposeScope();
        var x = roiFeatures.flatten(1);
        foreach (var fc in shared_fcs) x = functional.relu(fc.call(x));
        return (fc_cls.call(x).MoveToOuterDisposeScope(), fc_reg.call(x).MoveToOuterDisposeScope());
    }
}
