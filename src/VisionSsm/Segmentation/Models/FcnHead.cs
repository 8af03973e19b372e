using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// mmsegmentation's <c>FCNHead</c> (<c>decode_heads/fcn_head.py</c>) as UPerNet's auxiliary head: <c>convs</c> = N 3×3
/// <see cref="ConvModule"/>s (N = 1 in every UPerNet config), <c>concat_input=False</c>, Dropout2d, 1×1 <c>conv_seg</c>
/// with bias. Keys <c>convs.{i}.conv.weight</c>, <c>convs.{i}.bn.*</c>, <c>conv_seg.*</c>.
/// </summary>
public sealed class FcnHead : Module<Tensor, Tensor>
{
    private readonly Sequential convs;
    private readonly StreamDropout dropout;
    private readonly Conv2d conv_seg;

    public int InChannels { get; }
    public int Channels { get; }

    public FcnHead(int inChannels, int channels, int numClasses, int numConvs = 1, double dropoutRatio = 0.1) : base(nameof(FcnHead))
    {
        if (numConvs < 1) throw new ArgumentOutOfRangeException(nameof(numConvs), numConvs, "expected ≥ 1 conv.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected ≥ 1 classes.");
        (InChannels, Channels) = (inChannels, channels);
        convs = Sequential(Enumerable.Range(0, numConvs)
            .Select(i => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (Module<Tensor, Tensor>)new ConvModule(i == 0 ? inChannels : channels, channels, 3)))
            .ToArray());
        dropout = new StreamDropout(dropoutRatio, channels: true);
        conv_seg = Conv2d(channels, numClasses, 1);
        RegisterComponents();
        UPerHead.InitClassifier(conv_seg);
    }

    /// <summary>Closed form: 9·in·C + 2C for the first conv, (N−1)(9C² + 2C) for the rest, C·K + K for conv_seg.</summary>
    public static long ParameterCount(long inChannels, long channels, long numClasses, int numConvs = 1) =>
        9 * inChannels * channels + 2 * channels + (numConvs - 1) * (9 * channels * channels + 2 * channels) + channels * numClasses + numClasses;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"FCNHead expects (B, {InChannels}, H, W); got [{string.Join(", ", x.shape)}].", nameof(x));
        return Ops.OneDnnPointwiseGuard.Call(conv_seg, dropout.call(convs.call(x)));
    }
}
