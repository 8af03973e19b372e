using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Interop;
using VisionSsm.Layers;
using VisionSsm.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// UperNet on a zoo backbone, as mmsegmentation's <c>EncoderDecoder</c> composes it: <c>backbone</c> (the zoo model,
/// reached through <see cref="IVisionModel.ForwardIntermediates"/>, plus the segmentation backbone's per-level output
/// norms or Vim's pyramid registered on it), an optional <c>neck</c> (DeiT's multi-level neck), <c>decode_head</c>
/// (<see cref="UPerHead"/>) and <c>auxiliary_head</c> (<see cref="FcnHead"/>). State-dict keys are mmseg's, so official
/// segmentation checkpoints load by name (<see cref="LoadWeights"/>) and a classification checkpoint loads into the
/// backbone alone (<see cref="LoadBackboneWeights"/>).
/// <see cref="forward"/> returns the main logits at the head's resolution (B, K, ⌈H/r⌉, ⌈W/r⌉) with r the first
/// level's reduction (4 for the ImageNet backbones); <see cref="ForwardTrain"/> also the auxiliary logits;
/// <see cref="Predict"/> resizes the logits to the input size (mmseg's <c>predict</c>).
/// Backbones whose parameters depend on the input size (Vim, DeiT: position embeddings; vGamba: positional and
/// register parameters) are built for <see cref="ModelOptions.ImageSize"/> (the crop); a smaller input is padded
/// with zeros at the bottom and right and the logits cropped back, a larger one is refused (use sliding-window inference).
/// </summary>
public sealed class SegmentationModel : Module<Tensor, Tensor>
{
    private readonly VisionModel backbone;
    private readonly MultiLevelNeck? neck;
    private readonly UPerHead decode_head;
    private readonly FcnHead? auxiliary_head;
    readonly BackboneLevels levels;

    public SegmentationConfig Config { get; }
    public int NumClasses { get; }
    public int InChannels { get; }
    /// <summary>The input side the backbone was built for when its parameters depend on it; null when any size works.</summary>
    public int? FixedInputSide { get; }
    /// <summary>Input side / logits side (the reduction of the pyramid's finest level).</summary>
    public int OutputStride { get; }
    public VisionModel Backbone => backbone;

    public SegmentationModel(SegmentationConfig config, ModelOptions options) : base(nameof(SegmentationModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        config.Validate();
        options.Validate();
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), options.NumClasses, "a segmentation model needs ≥ 1 class.");
        Config = config;
        NumClasses = options.NumClasses;
        InChannels = options.InChannels;
        levels = new BackboneLevels(config.Backbone, config.FeatureIndices, config.OutNorms, config.Neck == SegmentationNeck.Pyramid,
            config.DropChildren, options, options.DropPathRate ?? config.DropPathRate);
        backbone = levels.Backbone;
        FixedInputSide = levels.FixedInputSide;
        int firstReduction = backbone.FeatureInfo[config.FeatureIndices[0]].Reduction;
        int[] widths = levels.Channels.ToArray();
        OutputStride = firstReduction;
        switch (config.Neck)
        {
            case SegmentationNeck.Pyramid:
                OutputStride = Math.Max(1, firstReduction / 4);
                break;
            case SegmentationNeck.MultiLevel:
                neck = new MultiLevelNeck(widths, config.NeckChannels);
                widths = Enumerable.Repeat(config.NeckChannels, widths.Length).ToArray();
                OutputStride = Math.Max(1, firstReduction / 4);
                break;
        }
        decode_head = new UPerHead(widths, config.Channels, NumClasses, config.DropoutRatio);
        if (config.AuxChannels > 0) auxiliary_head = new FcnHead(widths[config.AuxIndex], config.AuxChannels, NumClasses, dropoutRatio: config.DropoutRatio);
        register_module("backbone", backbone);
        if (neck is not null) register_module("neck", neck);
        register_module("decode_head", decode_head);
        if (auxiliary_head is not null) register_module("auxiliary_head", auxiliary_head);
        if (options.Dtype is { } t && t != ScalarType.Float32) this.to(t);
        if (options.Device is not null) this.to(options.Device);
    }

    /// <summary>The pyramid the decode head reads: backbone levels → output norms → neck.</summary>
    public IReadOnlyList<Tensor> ExtractFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        var maps = levels.Forward(x);
        if (neck is not null) maps = neck.call(maps);
        foreach (var m in maps) m.MoveToOuterDisposeScope();
        return maps;
    }

    /// <summary>Main logits (B, K, ⌈H/r⌉, ⌈W/r⌉) and, when the model has one, the auxiliary head's logits at its level's size.</summary>
    public (Tensor Main, Tensor? Aux) ForwardTrain(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3];
        var padded = PadToFixedSide(x);
        var feats = ExtractFeatures(padded);
        var main = decode_head.call(feats);
        var aux = auxiliary_head?.call(feats[Config.AuxIndex]);
        main = CropToInput(main, padded, h, w);
        if (aux is not null) aux = CropToInput(aux, padded, h, w);
        aux?.MoveToOuterDisposeScope();
        return (main.MoveToOuterDisposeScope(), aux);
    }

    /// <summary>The main logits (mmseg <c>EncoderDecoder._forward</c>, what the FLOP count sees).</summary>
    public override Tensor forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3];
        var padded = PadToFixedSide(x);
        var main = decode_head.call(ExtractFeatures(padded));
        return CropToInput(main, padded, h, w).MoveToOuterDisposeScope();
    }

    /// <summary>Logits resized (bilinear, align_corners false) to the input's size, (B, K, H, W).</summary>
    public Tensor Predict(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Resize.Bilinear(forward(x), x.shape[2], x.shape[3]).MoveToOuterDisposeScope();
    }

    void CheckInput(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"{Config.Backbone} segmentation model expects (B, {InChannels}, H, W); got [{string.Join(", ", x.shape)}].", nameof(x));
        if (FixedInputSide is { } s && (x.shape[2] > s || x.shape[3] > s))
            throw new ArgumentException($"backbone '{Config.Backbone}' was built for inputs up to {s}×{s} (its parameters depend on the size); got " +
                                        $"{x.shape[2]}×{x.shape[3]}. Use sliding-window inference with a {s}-px crop, or build it with ModelOptions.ImageSize.", nameof(x));
    }

    Tensor PadToFixedSide(Tensor x) => levels.PadToFixedSide(x);

    /// <summary>Crops logits computed on a padded input back to the part that covers the original ⌈h/r⌉×⌈w/r⌉.</summary>
    static Tensor CropToInput(Tensor logits, Tensor padded, long h, long w)
    {
        if (padded.shape[2] == h && padded.shape[3] == w) return logits;
        long rh = padded.shape[2] / logits.shape[2], rw = padded.shape[3] / logits.shape[3];
        return logits.narrow(2, 0, (h + rh - 1) / rh).narrow(3, 0, (w + rw - 1) / rw);
    }

    /// <summary>
    /// Loads an mmseg-style state_dict (keys <c>backbone.*</c>, <c>decode_head.*</c>, <c>auxiliary_head.*</c>, e.g. an
    /// official UperNet checkpoint's <c>state_dict</c>) by name. Strict: every key and shape must match.
    /// </summary>
    public StateDictDiff LoadWeights(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        var dict = stateDict.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        // A segmentation file has no auxiliary head when it was exported for inference; keep ours then.
        if (!strict || auxiliary_head is null || dict.Keys.Any(k => k.StartsWith("auxiliary_head.", StringComparison.Ordinal)))
            return StateDictLoader.Load(this, dict, strict);
        var diff = StateDictLoader.Load(this, dict, strict: false);
        var missing = diff.Missing.Where(k => !k.StartsWith("auxiliary_head.", StringComparison.Ordinal)).ToList();
        if (missing.Count + diff.Unexpected.Count + diff.ShapeMismatches.Count > 0)
            throw new InvalidDataException($"the state_dict does not fit this model: {diff with { Missing = missing }}");
        return diff;
    }

    /// <summary>
    /// Loads a classification checkpoint (official <c>.pth</c>/<c>.safetensors</c>, keys without a prefix, or with
    /// <c>backbone.</c>) into the backbone: the classifier's keys are skipped, position embeddings resampled to the
    /// crop, and the segmentation-only keys (output norms, pyramid) keep their initialisation. Throws when a backbone
    /// key is missing from the file or has another shape; returns what differed.
    /// </summary>
    public StateDictDiff LoadBackboneWeights(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        const string prefix = "backbone.";
        var dict = stateDict.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal))
            ? stateDict.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal)
            : stateDict.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var diff = PretrainedWeights.Load(backbone, dict, strict: false);
        var segOnly = SegmentationOnlyKeys();
        var missing = diff.Missing.Where(k => !segOnly.Contains(k)).ToList();
        if (missing.Count > 0 || diff.ShapeMismatches.Count > 0)
            throw new InvalidDataException($"the checkpoint does not fit backbone '{Config.Backbone}': " +
                                           $"{new StateDictDiff(missing, [], diff.ShapeMismatches)} (is it a '{Config.Backbone}' checkpoint?)");
        return diff;
    }

    /// <summary>Backbone keys a classification checkpoint cannot hold: the output norms and the pyramid's.</summary>
    HashSet<string> SegmentationOnlyKeys() => levels.DenseOnlyKeys();
}
