using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// mmseg's <c>PPM</c> (PSPNet, Zhao et al. 2017 §3.2; <c>psp_head.py</c>): for each pool scale s, adaptive average
/// pooling to s×s, a 1×1 <see cref="ConvModule"/>, and a bilinear resize back to the input size. A list of
/// <c>Sequential(AdaptiveAvgPool2d, ConvModule)</c>, so keys are <c>{i}.1.conv.weight</c>, <c>{i}.1.bn.*</c>.
/// </summary>
public sealed class PyramidPoolingModule : Module<Tensor, Tensor>
{
    private readonly ModuleList<Sequential> stages;

    public IReadOnlyList<int> PoolScales { get; }

    public PyramidPoolingModule(IReadOnlyList<int> poolScales, int inChannels, int channels) : base("PPM")
    {
        if (poolScales.Count == 0 || poolScales.Any(s => s < 1)) throw new ArgumentException("pool scales must be positive.", nameof(poolScales));
        PoolScales = poolScales.ToArray();
        stages = new ModuleList<Sequential>(poolScales.Select(s => Sequential(
            ("0", (Module<Tensor, Tensor>)AdaptiveAvgPool2d(s)), ("1", new ConvModule(inChannels, channels, 1)))).ToArray());
        // Keys are the list indices themselves (mmseg's PPM is an nn.ModuleList).
        for (int i = 0; i < stages.Count; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), stages[i]);
    }

    /// <summary>The pooled branches resized to <paramref name="x"/>'s size, in scale order (the input itself not included).</summary>
    public IReadOnlyList<Tensor> Branches(Tensor x) => stages.Select(s => Resize.Like(s.call(x), x)).ToList();

    /// <summary>Concatenation of <paramref name="x"/> and its pooled branches along channels.</summary>
    public override Tensor forward(Tensor x) => cat(Branches(x).Prepend(x).ToList(), 1);
}
