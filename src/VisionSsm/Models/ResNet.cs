using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>The stem: torchvision's 7×7/2 conv + 3×3/2 max-pool, or a 3×3/1 conv without pooling for 28–32 px images.</summary>
public enum ResNetStem { ImageNet, SmallImage }

/// <summary>
/// A bottleneck-ResNet layout. Defaults are torchvision's ResNet-50 v1.5 (<c>downsample</c> shortcut without
/// bias, plain <c>fc</c>, Kaiming init). The BoTNet/vGamba lineage sets <c>ShortcutName = "shortcut"</c>,
/// <c>ShortcutBias = true</c> and <c>HeadDropout = 0.3</c> (head <c>fc = Sequential(Dropout, Linear)</c>, keys
/// <c>fc.1.*</c>), with PyTorch's default init (docs/models/vgamba.md §2).
/// </summary>
public sealed record ResNetConfig(int[] Depths, ResNetStem Stem = ResNetStem.ImageNet, int[]? Widths = null, int[]? Strides = null,
    int StemWidth = 64, string ShortcutName = "downsample", bool ShortcutBias = false, double HeadDropout = 0,
    bool KaimingInit = true, int ImageSize = 224)
{
    public int[] StageWidths => Widths ?? [64, 128, 256, 512];
    public int[] StageStrides => Strides ?? [1, 2, 2, 2];

    /// <summary>The BoTNet/vGamba skeleton (leaderj1001 <c>ResNet</c>): biased shortcut conv, Dropout 0.3 head, default init.</summary>
    public ResNetConfig AsBotSkeleton() => this with { ShortcutName = "shortcut", ShortcutBias = true, HeadDropout = 0.3, KaimingInit = false };
}

/// <summary>Where a bottleneck sits, for a factory that replaces its conv2: <paramref name="Side"/> is the block's input side.</summary>
public sealed record BlockSite(int Stage, int Index, int Planes, int Stride, int Side);

/// <summary>
/// Bottleneck ResNet (He et al. 2016; torchvision <c>resnet.py</c>): conv1/bn1/relu/maxpool stem, layer1–4 of
/// <see cref="Bottleneck"/>s, global average pool, fc. A <c>conv2Factory</c> may replace a block's 3×3 conv with a
/// global mixer (BoTNet MHSA, vGamba's Gamba block); those mixers are built for one input size, so such a model
/// checks the input side. <see cref="ForwardIntermediates"/> returns the four stage maps (strides 4, 8, 16, 32 with the
/// ImageNet stem); <see cref="ForwardFeatures"/> the last of them.
/// </summary>
public class ResNet : VisionModel
{
    /// <summary>The configuration with the options' image size applied.</summary>
    public ResNetConfig Config { get; }
    public int InChannels { get; }
    /// <summary>True when some block's parameters depend on the input side (then forward checks it).</summary>
    public bool FixedInputSize { get; }

    private readonly Conv2d conv1;
    private readonly OwnedScalarBatchNorm2d bn1;
    private readonly MaxPool2d? maxpool;
    private readonly Sequential[] stages;
    private readonly AdaptiveAvgPool2d avgpool;
    private Module<Tensor, Tensor> fc;

    public ResNet(ResNetConfig config, ModelOptions options) : this(config, options, null) { }

    /// <param name="conv2Factory">Replaces a block's 3×3 conv with a global mixer (null keeps the conv).</param>
    protected ResNet(ResNetConfig config, ModelOptions options, Func<BlockSite, Module<Tensor, Tensor>?>? conv2Factory) : base(nameof(ResNet))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (config.Depths.Length != 4) throw new ArgumentException($"expected 4 stage depths; got {config.Depths.Length}.", nameof(config));
        config = config with { ImageSize = options.ImageSize ?? config.ImageSize };
        // Drop-path is not part of torchvision's or the BoTNet/vGamba ResNet; the option has nothing to act on.
        Config = config;
        int inChannels = InChannels = options.InChannels;
        int side = config.ImageSize;
        if (config.Stem == ResNetStem.ImageNet)
        {
            conv1 = Conv2d(inChannels, config.StemWidth, 7, stride: 2, padding: 3, bias: false);
            maxpool = MaxPool2d(3, stride: 2, padding: 1);
            side = (side + 1) / 2;
            side = (side + 1) / 2;
        }
        else conv1 = Conv2d(inChannels, config.StemWidth, 3, stride: 1, padding: 1, bias: false);
        bn1 = new OwnedScalarBatchNorm2d(config.StemWidth);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        if (maxpool is not null) register_module("maxpool", maxpool);

        int inPlanes = config.StemWidth;
        stages = new Sequential[4];
        for (int s = 0; s < 4; s++)
        {
            int planes = config.StageWidths[s];
            var blocks = new List<Module<Tensor, Tensor>>();
            for (int j = 0; j < config.Depths[s]; j++)
            {
                int stride = j == 0 ? config.StageStrides[s] : 1;
                var mixer = conv2Factory?.Invoke(new BlockSite(s, j, planes, stride, side));
                Module<Tensor, Tensor> conv2;
                if (mixer is null)
                {
                    conv2 = Bottleneck.Conv3x3(planes, stride);
                    side = (side + stride - 1) / stride;
                }
                else
                {
                    FixedInputSize = true;
                    // BoTNet/vGamba: the mixer runs at the block's input side, AvgPool2d(2, 2) after it when strided.
                    if (stride == 2 && side % 2 != 0)
                        throw new ArgumentException($"ImageSize {config.ImageSize} gives an odd side {side} before the strided " +
                            $"mixer block of stage {s + 1}; choose an input size divisible by the total stride.", nameof(config));
                    conv2 = stride == 1 ? Sequential(mixer) : Sequential(mixer, AvgPool2d(2, stride: 2));
                    side /= stride;
                }
                blocks.Add(new Bottleneck(inPlanes, planes, stride, conv2, config.ShortcutName, config.ShortcutBias));
                inPlanes = planes * Bottleneck.Expansion;
            }
            stages[s] = Sequential(blocks.ToArray());
            register_module($"layer{s + 1}", stages[s]);
        }
        avgpool = AdaptiveAvgPool2d(1);   // a module, so FLOP-counter hooks see it as thop/fvcore do
        register_module("avgpool", avgpool);
        NumFeatures = inPlanes;
        NumClasses = options.NumClasses;
        fc = CreateFc(options.NumClasses);
        register_module("fc", fc);
        if (config.KaimingInit) KaimingInitialise();
        options.Apply(this);
    }

    public override int NumFeatures { get; }

    /// <summary><c>fc</c>: Linear, or <c>Sequential(Dropout, Linear)</c> (keys <c>fc.1.*</c>) in the BoTNet lineage; Identity for 0 classes.</summary>
    Module<Tensor, Tensor> CreateFc(int numClasses)
    {
        var linear = CreateHead(NumFeatures, numClasses, truncNormal: false);
        return Config.HeadDropout > 0 && numClasses > 0 ? Sequential(new StreamDropout(Config.HeadDropout), linear) : linear;
    }

    /// <summary>torchvision's init: conv weights Kaiming-normal (fan_out, ReLU), BN weight 1 and bias 0.</summary>
    void KaimingInitialise()
    {
        using var _ = no_grad();
        foreach (var (_, m) in named_modules())
            if (m is Conv2d conv) init.kaiming_normal_(conv.weight!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
    }

    /// <summary>The output of layer4 (ResNet has no final norm).</summary>
    public override Tensor ForwardFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        return ForwardStages(x, 4)[^1].MoveToOuterDisposeScope();
    }

    /// <summary>Global average pool, then <c>fc</c>; <paramref name="preLogits"/> returns the pooled (B, NumFeatures).</summary>
    public override Tensor ForwardHead(Tensor features, bool preLogits = false)
    {
        using var scope = NewDisposeScope();
        var pooled = avgpool.call(features).flatten(1);
        return (preLogits ? pooled : fc.call(pooled)).MoveToOuterDisposeScope();
    }

    public override void ResetClassifier(int numClasses)
    {
        CheckClasses(numClasses);
        fc = ReplaceChild(this, "fc", CreateFc(numClasses));
        NumClasses = numClasses;
    }

    /// <summary>One entry per stage <c>layer1</c>–<c>layer4</c>: channels 4·width; reduction stem (4 or 1) × the strides so far.</summary>
    public override IReadOnlyList<FeatureInfo> FeatureInfo
    {
        get
        {
            int reduction = Config.Stem == ResNetStem.ImageNet ? 4 : 1;
            var result = new List<FeatureInfo>();
            for (int s = 0; s < 4; s++)
            {
                reduction *= Config.StageStrides[s];
                result.Add(new FeatureInfo(s, Config.StageWidths[s] * Bottleneck.Expansion, reduction, $"layer{s + 1}"));
            }
            return result;
        }
    }

    public override IReadOnlyList<int> DefaultFeatureIndices => All(4);

    protected override IReadOnlyList<Tensor> Intermediates(Tensor x, int count) => ForwardStages(x, count);

    /// <summary>The outputs of the first <paramref name="count"/> stages.</summary>
    Tensor[] ForwardStages(Tensor x, int count)
    {
        long s = Config.ImageSize;
        if (x.dim() != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"expected (batch, {InChannels}, H, W); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        if (FixedInputSize && (x.shape[2] != s || x.shape[3] != s))
            throw new ArgumentException($"this model was built for {s}×{s} inputs (its positional and register parameters depend " +
                $"on the size); got {Ops.ScanArguments.Fmt(x.shape)}. Build it with ModelOptions.ImageSize = {x.shape[2]}.", nameof(x));
        var y = functional.relu(bn1.call(conv1.call(x)));
        if (maxpool is not null) y = maxpool.call(y);
        var maps = new Tensor[count];
        for (int i = 0; i < count; i++) maps[i] = y = Tap(i, stages[i].call(y));
        return maps;
    }

    /// <summary>BoT50 (Srinivas et al. 2021) as leaderj1001/BottleneckTransformers builds it, the vGamba skeleton's parent:
    /// the ResNet-50 skeleton with 4-head <see cref="BotMhsa2d"/> (no registers) as conv2 of every stage-4 block.</summary>
    public static ResNet Bot50(ModelOptions options) =>
        new(new ResNetConfig([3, 4, 6, 3]).AsBotSkeleton(), options,
            site => site.Stage == 3 ? new BotMhsa2d(site.Planes, site.Side, heads: 4) : null);
}

/// <summary>ResNet-50/101 (torchvision), BoT50, and a small-image <c>resnet_nano</c>.</summary>
public sealed class ResNetFamily : IModelFamily
{
    public IEnumerable<ModelEntry> Entries =>
    [
        Plain("resnet50", new ResNetConfig([3, 4, 6, 3]), new ReportedFigures(25.6, 4.1, 76.1, "torchvision IMAGENET1K_V1"),
            "torchvision ResNet-50 (v1.5)"),
        Plain("resnet101", new ResNetConfig([3, 4, 23, 3]), new ReportedFigures(44.5, 7.8, 77.4, "torchvision IMAGENET1K_V1"),
            "torchvision ResNet-101 (v1.5)"),
        new("bot50", "resnet", 224, ResNet.Bot50, FlopConvention.Thop,
            new ReportedFigures(20.8, null, 78.3, "vGamba paper Table 2"), "BoTNet-50: MHSA (4 heads, 2D relative position) in stage 4")
        {
            Preprocessing = Preprocessing.ImageNet(),   // no released weights; the ImageNet protocol of the papers compared
        },
        Plain("resnet_nano", new ResNetConfig([1, 1, 1, 1], ResNetStem.SmallImage, [16, 32, 64, 128], StemWidth: 16, ImageSize: 28), null,
            "small-image ResNet for 28×28/32×32 (3×3 stem, widths 16–128, one block per stage); for quick training runs"),
    ];

    /// <summary>
    /// torchvision's ResNet weights (IMAGENET1K_V1/V2, the figures reported) evaluate with resize 256 → crop 224, bilinear
    /// (torchvision <c>ImageClassification</c> preset); timm's <c>resnet50.a1_in1k</c> instead uses crop 0.95 bicubic
    /// (timm <c>resnet.py::_rcfg</c>): override with <c>vssm eval</c>'s preprocessing when evaluating those.
    /// </summary>
    static ModelEntry Plain(string name, ResNetConfig config, ReportedFigures? reported, string description) =>
        new(name, "resnet", config.ImageSize, o => new ResNet(config, o), FlopConvention.Fvcore, reported, description)
        {
            Preprocessing = config.ImageSize == 224 ? Preprocessing.ImageNet(interpolation: ImageInterpolation.Bilinear) : Preprocessing.FashionMnist(config.ImageSize),
        };
}
