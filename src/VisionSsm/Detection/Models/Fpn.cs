using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// Feature Pyramid Network (Lin et al., 2017, §3) as mmdetection's <c>FPN</c> (<c>mmdet/models/necks/fpn.py</c>) in
/// the Mask R-CNN setting (<c>num_outs = levels + 1</c>, no extra convs): a 1×1 <c>lateral_convs.{i}</c> per input,
/// top-down pathway from the coarsest level (each lateral gets the next coarser one, nearest-upsampled to its size,
/// added), a 3×3 <c>fpn_convs.{i}</c> on each merged map, and one extra level by <c>max_pool2d(kernel 1, stride 2)</c>
/// of the last output (the RPN's P6). Convs have a bias and no norm or activation; Xavier-uniform init, bias 0.
/// </summary>
public sealed class Fpn : Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>
{
    private readonly ModuleList<ConvModule> lateral_convs;
    private readonly ModuleList<ConvModule> fpn_convs;

    public int OutChannels { get; }
    public int NumInputs { get; }
    /// <summary>Outputs: one per input plus the max-pooled extra level.</summary>
    public int NumOutputs => NumInputs + 1;

    public Fpn(IReadOnlyList<int> inChannels, int outChannels) : base(nameof(Fpn))
    {
        if (inChannels.Count < 1 || inChannels.Any(c => c < 1))
            throw new ArgumentException($"inChannels must be positive widths, got [{string.Join(", ", inChannels)}]", nameof(inChannels));
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "expected ≥ 1.");
        OutChannels = outChannels;
        NumInputs = inChannels.Count;
        lateral_convs = new ModuleList<ConvModule>(inChannels.Select(c => new ConvModule(c, outChannels, 1, norm: false, act: false)).ToArray());
        fpn_convs = new ModuleList<ConvModule>(inChannels.Select(_ => new ConvModule(outChannels, outChannels, 3, norm: false, act: false)).ToArray());
        RegisterComponents();
        foreach (var c in lateral_convs.Concat(fpn_convs)) c.XavierInit();
    }

    /// <summary>Closed form: Σ(c_i·D + D) laterals + n(9D² + D) output convs.</summary>
    public static long ParameterCount(IReadOnlyList<int> inChannels, long d) => inChannels.Sum(c => c * d + d) + inChannels.Count * (9 * d * d + d);

    public override IReadOnlyList<Tensor> forward(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count != NumInputs) throw new ArgumentException($"the FPN takes {NumInputs} maps; got {inputs.Count}.", nameof(inputs));
        using var scope = NewDisposeScope();
        var laterals = inputs.Select((x, i) => lateral_convs[i].call(x)).ToArray();
        for (int i = NumInputs - 1; i > 0; i--)
        {
            // mmdet's default upsample_cfg: F.interpolate(size = the finer map's size, mode nearest).
            var up = functional.interpolate(laterals[i], [laterals[i - 1].shape[2], laterals[i - 1].shape[3]], mode: InterpolationMode.Nearest);
            laterals[i - 1] = laterals[i - 1].Plus(up);
        }
        var outs = laterals.Select((l, i) => fpn_convs[i].call(l)).ToList();
        outs.Add(functional.max_pool2d(outs[^1], 1, 2));
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs;
    }
}
