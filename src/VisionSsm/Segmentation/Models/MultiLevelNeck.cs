using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// mmsegmentation's <c>MultiLevelNeck</c> (<c>necks/multilevel_neck.py</c>), the "MLN" that turns a plain ViT/DeiT's
/// same-stride block outputs into a pyramid: a 1×1 <c>lateral_convs.{i}</c> per input (conv with bias, no norm or
/// activation), a bilinear resize by <c>scales[i]</c> (4, 2, 1, 0.5: 1/16 maps become 1/4 … 1/32), and a 3×3
/// <c>convs.{i}</c> (with bias). Convs are Xavier-uniform initialised, biases 0 (mmseg's <c>init_weights</c>).
/// </summary>
public sealed class MultiLevelNeck : Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>
{
    private readonly ModuleList<ConvModule> lateral_convs;
    private readonly ModuleList<ConvModule> convs;

    public IReadOnlyList<double> Scales { get; }
    public int OutChannels { get; }

    public MultiLevelNeck(IReadOnlyList<int> inChannels, int outChannels, IReadOnlyList<double>? scales = null) : base(nameof(MultiLevelNeck))
    {
        Scales = (scales ?? PyramidNeck.Scales).ToArray();
        if (Scales.Count != inChannels.Count) throw new ArgumentException($"{inChannels.Count} inputs but {Scales.Count} scales.", nameof(scales));
        OutChannels = outChannels;
        lateral_convs = new ModuleList<ConvModule>(inChannels.Select(c => new ConvModule(c, outChannels, 1, norm: false, act: false)).ToArray());
        convs = new ModuleList<ConvModule>(Scales.Select(_ => new ConvModule(outChannels, outChannels, 3, norm: false, act: false)).ToArray());
        RegisterComponents();
        foreach (var c in lateral_convs.Concat(convs)) c.XavierInit();
    }

    /// <summary>Closed form: Σ(c_i·D + D) laterals + n(9D² + D) convs.</summary>
    public static long ParameterCount(IReadOnlyList<int> inChannels, long d) => inChannels.Sum(c => c * d + d) + inChannels.Count * (9 * d * d + d);

    public override IReadOnlyList<Tensor> forward(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count != lateral_convs.Count) throw new ArgumentException($"the neck takes {lateral_convs.Count} maps; got {inputs.Count}.", nameof(inputs));
        var result = new List<Tensor>();
        for (int i = 0; i < inputs.Count; i++)
        {
            using var scope = NewDisposeScope();
            var x = lateral_convs[i].call(inputs[i]);
            long h = (long)Math.Floor(x.shape[2] * Scales[i]), w = (long)Math.Floor(x.shape[3] * Scales[i]);   // F.interpolate(scale_factor) floors
            x = Resize.Bilinear(x, Math.Max(1, h), Math.Max(1, w));
            result.Add(convs[i].call(x).MoveToOuterDisposeScope());
        }
        return result;
    }
}
