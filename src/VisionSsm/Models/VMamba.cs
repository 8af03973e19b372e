using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Ops;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>
/// A VMamba variant (docs/models/vmamba.md §1). <see cref="V0"/> selects the vanilla form of docs/models/vmamba.md §10: stem v1
/// (4×4/4 conv + LN), PatchMerging downsample, SS2D with z and d_state 16, no MLP.
/// <see cref="StemStride"/> 4 is the official two-conv stem (both convs stride 2); 2 makes the first conv
/// stride 1, for small images (vmamba_nano); 1 makes both stride 1 (vmamba_nano_s1: stage 1 at full resolution).
/// <see cref="ScanPattern"/> is every SS2D's route pattern (VMamba Table 5; the cross-scan by default).
/// </summary>
public sealed record VMambaConfig(int[] Dims, int[] Depths, double SsmRatio = 2.0, double MlpRatio = 4.0,
    double DropPathRate = 0.2, bool V0 = false, int StemStride = 4, ScanPattern ScanPattern = ScanPattern.Cross)
{
    public Ss2dConfig Ssm(int dim) => (V0 ? Ss2dConfig.V0(dim) : new Ss2dConfig(dim, SsmRatio)) with { Pattern = ScanPattern };

    /// <summary>The closed-form count of docs/models/vmamba.md §1 (v2) and docs/models/vmamba.md §10 (v0), head included.</summary>
    public long ParameterCount(int numClasses = 1000, int inChannels = 3)
    {
        long c0 = Dims[0], total;
        total = V0
            ? inChannels * c0 * 16 + c0 + 2 * c0
            : inChannels * (c0 / 2) * 9 + c0 / 2 + c0 + (c0 / 2) * c0 * 9 + c0 + 2 * c0;
        for (int i = 0; i < Dims.Length; i++)
        {
            total += Depths[i] * VssBlock.ParameterCount(Ssm(Dims[i]), V0 ? 0 : MlpRatio);
            if (i + 1 < Dims.Length)
                total += V0 ? 8L * Dims[i] + 4L * Dims[i] * Dims[i + 1] : 9L * Dims[i] * Dims[i + 1] + 3L * Dims[i + 1];
        }
        long last = Dims[^1];
        return total + 2 * last + numClasses * last + numClasses;
    }
}

/// <summary>
/// VMamba (MzeroMiko/VMamba <c>classification/models/vmamba.py::VSSM</c>, final release; docs/models/vmamba.md) on
/// (B, C, H, W): stem (<c>patch_embed</c>), four stages <c>layers.{i}</c> = VSS blocks then downsample, and the
/// head <c>classifier</c> (LN2d → global average pool → linear). Submodule names equal the official state_dict
/// keys (docs/models/vmamba.md §9). No positional embedding, so any input size works. Internally activations are channels-last.
/// </summary>
public sealed class VMamba : VisionModel
{
    public VMambaConfig Config { get; }

    private readonly Sequential patch_embed;
    private readonly ModuleList<VMambaStage> layers;
    private readonly VMambaClassifier classifier;

    public VMamba(VMambaConfig config, ModelOptions options) : base(nameof(VMamba))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (config.Dims.Length != config.Depths.Length || config.Dims.Length == 0)
            throw new ArgumentException($"VMamba config needs one dim per stage; got {config.Dims.Length} dims, {config.Depths.Length} depths.", nameof(config));
        Config = config;
        int c0 = config.Dims[0];
        patch_embed = config.V0 ? StemV1(options.InChannels, c0) : StemV2(options.InChannels, c0, config.StemStride);

        double[] dpr = DropPath.LinearSchedule(options.DropPathRate ?? config.DropPathRate, config.Depths.Sum());
        var stages = new List<VMambaStage>();
        for (int i = 0, offset = 0; i < config.Dims.Length; offset += config.Depths[i], i++)
        {
            var blocks = Enumerable.Range(0, config.Depths[i])
                .Select(j => new VssBlock(config.Ssm(config.Dims[i]), config.V0 ? 0 : config.MlpRatio, dpr[offset + j]))
                .ToArray();
            Module<Tensor, Tensor> down = i + 1 == config.Dims.Length ? Identity()
                : config.V0 ? new PatchMerging2d(config.Dims[i], config.Dims[i + 1])
                : DownsampleV3(config.Dims[i], config.Dims[i + 1]);
            stages.Add(new VMambaStage(blocks, down));
        }
        layers = new ModuleList<VMambaStage>(stages.ToArray());

        NumFeatures = config.Dims[^1];
        NumClasses = options.NumClasses;
        classifier = new VMambaClassifier(NumFeatures, CreateHead(NumFeatures, options.NumClasses, truncNormal: true));   // docs/models/vmamba.md §7
        RegisterComponents();
        options.Apply(this);
    }

    public override int NumFeatures { get; }

    /// <summary>The last stage map after <c>classifier.norm</c>, (B, C, H, W) with channels-last storage.</summary>
    public override Tensor ForwardFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        return classifier.Norm(Stages(x, int.MaxValue, null)).MoveToOuterDisposeScope();
    }

    public override Tensor ForwardHead(Tensor features, bool preLogits = false) => classifier.Head(features, preLogits);

    public override void ResetClassifier(int numClasses)
    {
        CheckClasses(numClasses);
        classifier.SetHead(ReplaceChild(classifier, "head", CreateHead(NumFeatures, numClasses, truncNormal: true)));
        NumClasses = numClasses;
    }

    /// <summary>
    /// One entry per stage <c>layers.{i}</c>: the map after its blocks, before downsampling (strides 4, 8, 16, 32 of the
    /// official stem; 2, 4, 8, 16 with the stride-2 small-image stem; 1, 2, 4, 8 with stride 1).
    /// </summary>
    public override IReadOnlyList<FeatureInfo> FeatureInfo =>
        Config.Dims.Select((c, i) => new FeatureInfo(i, c, StemReduction << i, $"layers.{i}")).ToList();

    public override IReadOnlyList<int> DefaultFeatureIndices => All(Config.Dims.Length);

    int StemReduction => Config.V0 ? 4 : Config.StemStride;

    /// <summary>Stage maps are (B, C, H, W) with channels-last storage: call <c>contiguous()</c> before <c>view</c>.</summary>
    protected override IReadOnlyList<Tensor> Intermediates(Tensor x, int count)
    {
        var features = new List<Tensor>();
        Stages(x, count, features);
        return features;
    }

    /// <summary>Runs the stem and the first <paramref name="count"/> stages; returns the last stage's downsampled output.</summary>
    Tensor Stages(Tensor x, int count, List<Tensor>? features)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"VMamba expects (B, {InChannels}, H, W); got {ScanArguments.Fmt(x.shape)}.", nameof(x));
        x = patch_embed.call(ChannelsLast.To(x));
        int level = 0;
        foreach (var stage in layers.Take(count))
        {
            var blocksOut = Tap(level++, stage.Blocks(x));
            features?.Add(blocksOut);
            x = stage.Downsample(blocksOut);
        }
        return x;
    }

    long InChannels => ((Conv2d)patch_embed.children().First()).weight!.shape[1];

    /// <summary>Stem v2 (docs/models/vmamba.md §3): conv 3×3/2 → LN2d → GELU → conv 3×3/2 → LN2d; indices 0, 2, 4, 5, 7 as upstream.</summary>
    static Sequential StemV2(int inChannels, int c0, int stride)
    {
        if (stride is not (1 or 2 or 4)) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stem stride must be 1, 2 or 4");
        return Sequential(
            ("0", Conv2d(inChannels, c0 / 2, 3, stride: Math.Max(1, stride / 2), padding: 1)),
            ("1", Identity()),
            ("2", new LayerNorm2d(c0 / 2)),
            ("3", Identity()),
            ("4", GELU()),
            ("5", Conv2d(c0 / 2, c0, 3, stride: Math.Min(2, stride), padding: 1)),
            ("6", Identity()),
            ("7", new LayerNorm2d(c0)));
    }

    /// <summary>Stem v1 (docs/models/vmamba.md §10): conv 4×4/4 → LN; indices 0 and 2.</summary>
    static Sequential StemV1(int inChannels, int c0) =>
        Sequential(("0", Conv2d(inChannels, c0, 4, stride: 4)), ("1", Identity()), ("2", new LayerNorm2d(c0)));

    /// <summary>Downsample v3 (docs/models/vmamba.md §4): conv 3×3/2 (bias) → LN2d; indices 1 and 3.</summary>
    static Sequential DownsampleV3(int c, int outC) =>
        Sequential(("0", Identity()), ("1", Conv2d(c, outC, 3, stride: 2, padding: 1)), ("2", Identity()), ("3", new LayerNorm2d(outC)));
}

/// <summary>One stage <c>layers.{i}</c>: <c>blocks</c> (VSS blocks) then <c>downsample</c> (Identity for the last).</summary>
public sealed class VMambaStage : Module<Tensor, Tensor>
{
    private readonly Sequential blocks;
    private readonly Module<Tensor, Tensor> downsample;

    public VMambaStage(VssBlock[] blockList, Module<Tensor, Tensor> down) : base(nameof(VMambaStage))
    {
        blocks = Sequential(blockList.Select((b, j) => (j.ToString(), (Module<Tensor, Tensor>)b)).ToArray());
        downsample = down;
        RegisterComponents();
    }

    public Tensor Blocks(Tensor x) => blocks.call(x);
    public Tensor Downsample(Tensor x) => downsample.call(x);

    public override Tensor forward(Tensor x)
    {
        using var b = blocks.call(x);
        return downsample.call(b);
    }
}

/// <summary>
/// The head <c>classifier</c> of the official model: <c>norm</c> (LN2d) → <c>permute</c> → <c>avgpool</c> → <c>flatten</c> →
/// <c>head</c> (Linear, or Identity for 0 classes). Child names are the official keys.
/// </summary>
public sealed class VMambaClassifier : Module<Tensor, Tensor>
{
    private readonly LayerNorm2d norm;
    private readonly Module<Tensor, Tensor> permute;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Flatten flatten;
    private Module<Tensor, Tensor> head;

    public VMambaClassifier(int features, Module<Tensor, Tensor> head) : base(nameof(VMambaClassifier))
    {
        norm = new LayerNorm2d(features);
        permute = Identity();
        avgpool = AdaptiveAvgPool2d(1);   // a module, so FLOP-counter hooks see it as fvcore does
        flatten = Flatten(1);
        this.head = head;
        RegisterComponents();
    }

    public Tensor Norm(Tensor x) => norm.call(x);

    /// <summary>Pool → flatten → head; <paramref name="preLogits"/> stops before the head.</summary>
    public Tensor Head(Tensor x, bool preLogits)
    {
        using var scope = NewDisposeScope();
        var pooled = flatten.call(avgpool.call(permute.call(x)));
        return (preLogits ? pooled : head.call(pooled)).MoveToOuterDisposeScope();
    }

    internal void SetHead(Module<Tensor, Tensor> replacement) => head = replacement;

    public override Tensor forward(Tensor x) => Head(Norm(x), preLogits: false);
}

/// <summary>The VMamba variants of the model zoo (docs/models/vmamba.md §1, docs/models/vmamba.md §10) and the small-image vmamba_nano.</summary>
public sealed class VMambaFamily : IModelFamily
{
    const string Readme = "MzeroMiko/VMamba README";

    static int[] Dims(int c0) => [c0, 2 * c0, 4 * c0, 8 * c0];

    public static readonly IReadOnlyDictionary<string, VMambaConfig> Configs = new Dictionary<string, VMambaConfig>
    {
        ["vmamba_tiny_s1l8"] = new(Dims(96), [2, 2, 8, 2], SsmRatio: 1.0, DropPathRate: 0.2),
        ["vmamba_tiny_s2l5"] = new(Dims(96), [2, 2, 5, 2], SsmRatio: 2.0, DropPathRate: 0.2),
        ["vmamba_small_s2l15"] = new(Dims(96), [2, 2, 15, 2], SsmRatio: 2.0, DropPathRate: 0.3),
        ["vmamba_base_s2l15"] = new(Dims(128), [2, 2, 15, 2], SsmRatio: 2.0, DropPathRate: 0.6),
        ["vmamba_tiny_v0"] = new(Dims(96), [2, 2, 9, 2], SsmRatio: 2.0, MlpRatio: 0, DropPathRate: 0.2, V0: true),
        // Small images (28×28 / 32×32): stride-2 stem, so stage maps are 14, 7, 4, 2 for 28²; ssm_ratio 1 as the
        // README's T (s1l8): halves the scan, cross-scan and projection cost, which dominate at this size.
        ["vmamba_nano"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.05, StemStride: 2),
        // 1.5× vmamba_nano's widths, to test whether the longer Fashion-MNIST recipe is short of capacity: it is not
        // (24 epochs: 93.17% against nano's 93.21% at 30; README "Longer recipe"), so width is not the limit.
        ["vmamba_micro"] = new(Dims(48), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.1, StemStride: 2),
        ["vmamba_nano_s1"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.1, StemStride: 1),
        // The official stride-4 stem on vmamba_nano's stages: stage maps 16, 8, 4, 2 for the 64² segmentation canvases,
        // a quarter of the tokens of the stride-2 stem (docs/segmentation.md §5).
        ["vmamba_nano_s4"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.05, StemStride: 4),
        // VMamba Table 5's scan-pattern diagnostic: VMamba-T (s2l5) with each alternative route pattern, and the same
        // patterns on the small-image vmamba_nano (docs/analysis.md "Scan patterns").
        ["vmamba_tiny_s2l5_unidi"] = new(Dims(96), [2, 2, 5, 2], SsmRatio: 2.0, DropPathRate: 0.2, ScanPattern: ScanPattern.Unidirectional),
        ["vmamba_tiny_s2l5_bidi"] = new(Dims(96), [2, 2, 5, 2], SsmRatio: 2.0, DropPathRate: 0.2, ScanPattern: ScanPattern.Bidirectional),
        ["vmamba_tiny_s2l5_cascade"] = new(Dims(96), [2, 2, 5, 2], SsmRatio: 2.0, DropPathRate: 0.2, ScanPattern: ScanPattern.Cascade),
        ["vmamba_nano_unidi"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.05, StemStride: 2, ScanPattern: ScanPattern.Unidirectional),
        ["vmamba_nano_bidi"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.05, StemStride: 2, ScanPattern: ScanPattern.Bidirectional),
        ["vmamba_nano_cascade"] = new(Dims(32), [1, 1, 2, 1], SsmRatio: 1.0, DropPathRate: 0.05, StemStride: 2, ScanPattern: ScanPattern.Cascade),
    };

    const string Table5 = "VMamba paper Table 5";

    public IEnumerable<ModelEntry> Entries =>
    [
        Entry("vmamba_tiny_s1l8", 224, new(30.2, 4.906, 82.6, Readme), "VMamba-T [s1l8], the README's T (ssm_ratio 1, depths 2-2-8-2)"),
        Entry("vmamba_tiny_s2l5", 224, new(30.7, 4.858, 82.5, Readme), "VMamba-T [s2l5], the paper's T (ssm_ratio 2, depths 2-2-5-2)"),
        Entry("vmamba_small_s2l15", 224, new(50.1, 8.716, 83.6, Readme), "VMamba-S [s2l15]"),
        Entry("vmamba_base_s2l15", 224, new(88.6, 15.359, 83.9, Readme), "VMamba-B [s2l15]"),
        Entry("vmamba_tiny_v0", 224, new(22.9, 5.627, 82.2, Readme), "Vanilla VMamba-T (v0: z gate, d_state 16, no MLP, patch merging)"),
        Entry("vmamba_nano", 28, null, "small-image VMamba (stride-2 stem, dims 32-64-128-256, depths 1-1-2-1, ssm_ratio 1) for 28²/32² inputs"),
        Entry("vmamba_nano_s1", 28, null, "vmamba_nano with a stride-1 stem: stage maps 28, 14, 7, 4 for 28² inputs"),
        Entry("vmamba_nano_s4", 28, null, "vmamba_nano with the official stride-4 stem: stage maps 7, 4, 2, 1 at 28², 16, 8, 4, 2 for the 64² segmentation canvases"),
        Entry("vmamba_micro", 28, null, "vmamba_nano at 1.5× width (dims 48-96-192-384) for the longer small-image recipe"),
        Entry("vmamba_tiny_s2l5_unidi", 224, new(30.70, 4.86, 82.2, Table5), "VMamba-T [s2l5] with Unidi-Scan: all four routes row-major"),
        Entry("vmamba_tiny_s2l5_bidi", 224, new(30.70, 4.86, 74.8, Table5), "VMamba-T [s2l5] with Bidi-Scan: row-major forward and reversed"),
        Entry("vmamba_tiny_s2l5_cascade", 224, new(30.70, 4.86, null, Table5), "VMamba-T [s2l5] with Cascade-Scan: rows both ways, then columns both ways"),
        Entry("vmamba_nano_unidi", 28, null, "vmamba_nano with Unidi-Scan (VMamba Table 5)"),
        Entry("vmamba_nano_bidi", 28, null, "vmamba_nano with Bidi-Scan (VMamba Table 5)"),
        Entry("vmamba_nano_cascade", 28, null, "vmamba_nano with Cascade-Scan (VMamba Table 5)"),
    ];

    static ModelEntry Entry(string name, int size, ReportedFigures? reported, string description) =>
        new(name, "vmamba", size, options => new VMamba(Configs[name], options), FlopConvention.Fvcore, reported, description)
        {
            Preprocessing = size == 224 ? Preprocessing.ImageNet() : Preprocessing.FashionMnist(size),
        };
}
