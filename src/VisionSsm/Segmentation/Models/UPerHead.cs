using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// UPerNet's decode head (Xiao et al. 2018) as mmsegmentation defines it (<c>decode_heads/uper_head.py</c>): a PPM on the
/// last level (<c>psp_modules</c>, pool scales 1, 2, 3, 6) concatenated with that level and fused by a 3×3
/// <c>bottleneck</c>; 1×1 <c>lateral_convs</c> on the other levels; a top-down path (bilinear upsample + add); 3×3
/// <c>fpn_convs</c> on all but the last; every level resized to the first level's size, concatenated and fused by a
/// 3×3 <c>fpn_bottleneck</c>; Dropout2d and a 1×1 <c>conv_seg</c> (with bias) to the classes. Every conv except
/// <c>conv_seg</c> is a <see cref="ConvModule"/> (conv without bias + BatchNorm + ReLU). Output: logits at the first
/// level's resolution (1/4 of the input for the standard backbones).
/// </summary>
public sealed class UPerHead : Module<IReadOnlyList<Tensor>, Tensor>
{
    private readonly PyramidPoolingModule psp_modules;
    private readonly ConvModule bottleneck;
    private readonly ModuleList<ConvModule> lateral_convs;
    private readonly ModuleList<ConvModule> fpn_convs;
    private readonly ConvModule fpn_bottleneck;
    private readonly StreamDropout dropout;
    private readonly Conv2d conv_seg;

    public IReadOnlyList<int> InChannels { get; }
    public int Channels { get; }
    public int NumClasses { get; }

    public static readonly IReadOnlyList<int> DefaultPoolScales = [1, 2, 3, 6];

    public UPerHead(IReadOnlyList<int> inChannels, int channels, int numClasses, double dropoutRatio = 0.1, IReadOnlyList<int>? poolScales = null)
        : base(nameof(UPerHead))
    {
        ArgumentNullException.ThrowIfNull(inChannels);
        if (inChannels.Count < 2) throw new ArgumentException($"UPerHead needs at least 2 input levels; got {inChannels.Count}.", nameof(inChannels));
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected ≥ 1 channels.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected ≥ 1 classes.");
        InChannels = inChannels.ToArray();
        Channels = channels;
        NumClasses = numClasses;
        var scales = poolScales ?? DefaultPoolScales;
        int last = inChannels[^1];
        psp_modules = new PyramidPoolingModule(scales, last, channels);
        bottleneck = new ConvModule(last + scales.Count * channels, channels, 3);
        lateral_convs = new ModuleList<ConvModule>(inChannels.Take(inChannels.Count - 1).Select(c => new ConvModule(c, channels, 1)).ToArray());
        fpn_convs = new ModuleList<ConvModule>(inChannels.Take(inChannels.Count - 1).Select(_ => new ConvModule(channels, channels, 3)).ToArray());
        fpn_bottleneck = new ConvModule(inChannels.Count * channels, channels, 3);
        dropout = new StreamDropout(dropoutRatio, channels: true);
        conv_seg = Conv2d(channels, numClasses, 1);
        RegisterComponents();
        InitClassifier(conv_seg);
    }

    /// <summary>mmseg <c>BaseDecodeHead.init_weights</c>: conv_seg weight normal(0, 0.01), bias 0.</summary>
    internal static void InitClassifier(Conv2d convSeg)
    {
        using var _ = no_grad();
        init.normal_(convSeg.weight!, 0, 0.01);
        convSeg.bias!.zero_();
    }

    /// <summary>
    /// The closed form of the parameter count for levels c₀…c_{L−1}, C channels, K classes and P pool scales:
    /// PPM P·(c_{L−1}·C + 2C); bottleneck 9(c_{L−1} + P·C)·C + 2C; laterals Σ_{i&lt;L−1}(c_i·C + 2C);
    /// FPN convs (L−1)(9C² + 2C); FPN bottleneck 9·L·C·C + 2C; conv_seg C·K + K.
    /// </summary>
    public static long ParameterCount(IReadOnlyList<int> inChannels, long channels, long numClasses, int poolScales = 4)
    {
        long c = channels, last = inChannels[^1];
        int levels = inChannels.Count;
        long ppm = poolScales * (last * c + 2 * c);
        long bottle = 9 * (last + poolScales * c) * c + 2 * c;
        long laterals = inChannels.Take(levels - 1).Sum(ci => ci * c + 2 * c);
        long fpn = (levels - 1) * (9 * c * c + 2 * c);
        long fuse = 9 * levels * c * c + 2 * c;
        return ppm + bottle + laterals + fpn + fuse + c * numClasses + numClasses;
    }

    public override Tensor forward(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count != InChannels.Count)
            throw new ArgumentException($"UPerHead expects {InChannels.Count} feature maps; got {inputs.Count}.", nameof(inputs));
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i].dim() != 4 || inputs[i].shape[1] != InChannels[i])
                throw new ArgumentException($"UPerHead level {i}: expected (B, {InChannels[i]}, H, W); got [{string.Join(", ", inputs[i].shape)}].", nameof(inputs));
        using var scope = NewDisposeScope();
        int levels = inputs.Count;
        var laterals = new Tensor[levels];
        for (int i = 0; i < levels - 1; i++) laterals[i] = lateral_convs[i].call(inputs[i]);
        laterals[^1] = bottleneck.call(psp_modules.call(inputs[^1]));                      // psp_forward
        for (int i = levels - 1; i > 0; i--) laterals[i - 1] = laterals[i - 1].Plus(Resize.Like(laterals[i], laterals[i - 1]));
        var outs = new Tensor[levels];
        for (int i = 0; i < levels - 1; i++) outs[i] = fpn_convs[i].call(laterals[i]);
        outs[^1] = laterals[^1];
        for (int i = 1; i < levels; i++) outs[i] = Resize.Like(outs[i], outs[0]);
        var feats = fpn_bottleneck.call(cat(outs, 1));
        return Ops.OneDnnPointwiseGuard.Call(conv_seg, dropout.call(feats)).MoveToOuterDisposeScope();
    }
}
