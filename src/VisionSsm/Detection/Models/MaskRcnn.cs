using TorchSharp;
using VisionSsm.Detection.Boxes;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// Mask R-CNN (He et al., 2017) with an FPN on any zoo backbone, composed as mmdetection's <c>MaskRCNN</c>
/// (<c>TwoStageDetector</c>): <c>backbone</c> (the zoo model through <see cref="BackboneLevels"/>: its FeatureInfo levels,
/// VMamba's output norms, Vim's pyramid), <c>neck</c> (<see cref="Fpn"/>), <c>rpn_head</c> (<see cref="RpnHead"/>) and
/// <c>roi_head</c> (<see cref="RoiHeads"/>: <c>bbox_head</c>, <c>mask_head</c>). State-dict keys are mmdetection's, so a
/// converted official checkpoint loads by name (<see cref="LoadWeights"/>). Images are (B, 3, H, W) batches padded at the
/// bottom/right; <see cref="ImageMeta"/> gives each image's valid region and original size.
/// <see cref="forward"/> is the inference graph with a fixed number of RoIs, for FLOP counting (<see cref="DetectionFlops"/>).
/// </summary>
public sealed class MaskRcnn : Module<Tensor, Tensor>, IDetector
{
    private readonly VisionModel backbone;
    private readonly Fpn neck;
    private readonly RpnHead rpn_head;
    private readonly RoiHeads roi_head;
    readonly BackboneLevels levels;

    public MaskRcnnConfig Config { get; }
    public int NumClasses { get; }
    public bool PredictsMasks => Config.WithMask;
    public Module Module => this;
    public int InChannels { get; }
    /// <summary>Reductions of the FPN outputs (the RPN's anchor strides); the RoI heads read all but the last.</summary>
    public IReadOnlyList<int> Strides { get; }
    public BackboneLevels BackboneLevels => levels;
    public VisionModel Backbone => backbone;
    public Fpn Neck => neck;
    public RpnHead Rpn => rpn_head;
    public RoiHeads Roi => roi_head;

    public MaskRcnn(MaskRcnnConfig config, ModelOptions options) : base(nameof(MaskRcnn))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        config.Validate();
        options.Validate();
        if (options.NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(options), options.NumClasses, "a detector needs ≥ 1 class.");
        Config = config;
        NumClasses = options.NumClasses;
        InChannels = options.InChannels;
        levels = new BackboneLevels(config.Backbone, config.FeatureIndices, config.OutNorms, config.Pyramid, config.DropChildren, options,
            options.DropPathRate ?? config.DropPathRate);
        backbone = levels.Backbone;
        var strides = levels.Reductions.ToList();
        for (int i = 1; i < strides.Count; i++)
            if (strides[i] != 2 * strides[i - 1])
                throw new ArgumentException($"the FPN needs levels whose reductions double; backbone '{config.Backbone}' gives [{string.Join(", ", strides)}].", nameof(config));
        strides.Add(2 * strides[^1]);
        Strides = strides;
        neck = new Fpn(levels.Channels, config.FpnChannels);
        rpn_head = new RpnHead(config.FpnChannels, config.RpnChannels, new AnchorGenerator(strides, config.Ratios, config.Scales),
            new MaxIouAssigner(config.RpnPositiveIou, config.RpnNegativeIou, config.RpnMinPositiveIou),
            new RandomSampler(config.RpnSamples, config.RpnPositiveFraction));
        roi_head = new RoiHeads(config, strides.Take(strides.Count - 1).ToArray(), NumClasses);
        register_module("backbone", backbone);
        register_module("neck", neck);
        register_module("rpn_head", rpn_head);
        register_module("roi_head", roi_head);
        if (options.Dtype is { } t && t != ScalarType.Float32) this.to(t);
        if (options.Device is not null) this.to(options.Device);
    }

    /// <summary>The FPN levels (finest first, plus the extra level) of a batch.</summary>
    public IReadOnlyList<Tensor> ExtractFeatures(Tensor images)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        var feats = neck.call(levels.Forward(levels.PadToFixedSide(images)));
        foreach (var f in feats) f.MoveToOuterDisposeScope();
        return feats;
    }

    public IReadOnlyDictionary<string, Tensor> Losses(Tensor images, IReadOnlyList<ImageMeta> metas, IReadOnlyList<DetectionTarget> targets)
    {
        CheckBatch(images, metas);
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count != metas.Count) throw new ArgumentException($"{metas.Count} images but {targets.Count} targets.", nameof(targets));
        for (int b = 0; b < targets.Count; b++) CheckTarget(targets[b], metas[b], b);
        using var scope = NewDisposeScope();
        var feats = ExtractFeatures(images);
        var outputs = rpn_head.Forward(feats);
        var sizes = feats.Select(f => (f.shape[2], f.shape[3])).ToArray();
        var (rpnCls, rpnBox) = rpn_head.Loss(outputs, sizes, metas, targets);
        var proposals = rpn_head.Proposals(outputs, sizes, metas, Config.RpnPreNmsTrain, Config.RpnNmsIou, Config.RpnProposalsTrain);
        var roi = roi_head.Loss(feats.Take(feats.Count - 1).ToArray(), proposals.Select(p => p.Boxes).ToArray(), targets);
        var losses = new Dictionary<string, Tensor> { ["loss_rpn_cls"] = rpnCls, ["loss_rpn_bbox"] = rpnBox };
        foreach (var (k, v) in roi) losses[k] = v;
        foreach (var v in losses.Values) v.MoveToOuterDisposeScope();
        return losses;
    }

    public IReadOnlyList<Detections> Predict(Tensor images, IReadOnlyList<ImageMeta> metas)
    {
        CheckBatch(images, metas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var feats = ExtractFeatures(images);
        var outputs = rpn_head.Forward(feats);
        var sizes = feats.Select(f => (f.shape[2], f.shape[3])).ToArray();
        var proposals = rpn_head.Proposals(outputs, sizes, metas, Config.RpnPreNmsTest, Config.RpnNmsIou, Config.RpnProposalsTest);
        var dets = roi_head.Predict(feats.Take(feats.Count - 1).ToArray(), proposals.Select(p => p.Boxes).ToArray(), metas);
        foreach (var d in dets)
        {
            d.Boxes.MoveToOuterDisposeScope(); d.Scores.MoveToOuterDisposeScope(); d.Labels.MoveToOuterDisposeScope();
            d.Masks?.MoveToOuterDisposeScope();
        }
        return dets;
    }

    /// <summary>
    /// The inference graph for FLOP counting (mmdet's tensor-mode forward): backbone, FPN, the RPN head on every level, the
    /// box head on <see cref="MaskRcnnConfig.RpnProposalsTest"/> RoIs and the mask head on the first 100. The RoIs are the
    /// RPN's proposals of the input, repeated when NMS leaves fewer (a real image keeps the full count; FLOPs do not
    /// depend on where the boxes are).
    /// </summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var feats = ExtractFeatures(images);
        var outputs = rpn_head.Forward(feats);
        var sizes = feats.Select(f => (f.shape[2], f.shape[3])).ToArray();
        var metas = Enumerable.Range(0, (int)images.shape[0]).Select(_ => new ImageMeta((int)images.shape[2], (int)images.shape[3], (int)images.shape[2], (int)images.shape[3])).ToArray();
        var proposals = rpn_head.Proposals(outputs, sizes, metas, Config.RpnPreNmsTest, Config.RpnNmsIou, Config.RpnProposalsTest);
        int n = Config.RpnProposalsTest;
        var boxes = proposals.Select(p =>
        {
            var bx = p.Boxes.shape[0] > 0 ? p.Boxes : tensor(new double[] { 0, 0, 32, 32 }, dtype: images.dtype).view(1, 4);
            long reps = (n + bx.shape[0] - 1) / bx.shape[0];
            return bx.repeat(reps, 1).narrow(0, 0, n);
        }).ToArray();
        var outs = roi_head.ForwardForFlops(feats.Take(feats.Count - 1).ToArray(), RoiHeads.ToRois(boxes));
        var rpnSum = cat(outputs.SelectMany(o => new[] { o.Logits.flatten(), o.Deltas.flatten() }).ToArray(), 0);
        return cat([rpnSum, outs], 0).MoveToOuterDisposeScope();
    }

    /// <summary>Loads an mmdet-style state_dict (<c>backbone.*</c>, <c>neck.*</c>, <c>rpn_head.*</c>, <c>roi_head.*</c>) by name.</summary>
    public StateDictDiff LoadWeights(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true) =>
        StateDictLoader.Load(this, stateDict.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), strict);

    /// <summary>
    /// Loads a classification checkpoint into the backbone (classifier keys skipped, output norms and pyramid keep their
    /// initialisation); throws when a backbone key is missing or has another shape.
    /// </summary>
    public StateDictDiff LoadBackboneWeights(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        const string prefix = "backbone.";
        var dict = stateDict.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal))
            ? stateDict.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal)
            : stateDict.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var diff = PretrainedWeights.Load(backbone, dict, strict: false);
        var denseOnly = levels.DenseOnlyKeys();
        var missing = diff.Missing.Where(k => !denseOnly.Contains(k)).ToList();
        if (missing.Count > 0 || diff.ShapeMismatches.Count > 0)
            throw new InvalidDataException($"the checkpoint does not fit backbone '{Config.Backbone}': {new StateDictDiff(missing, [], diff.ShapeMismatches)}");
        return diff;
    }

    void CheckImages(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != InChannels)
            throw new ArgumentException($"{Config.Backbone} Mask R-CNN expects images (B, {InChannels}, H, W); got [{string.Join(", ", images.shape)}].", nameof(images));
    }

    void CheckBatch(Tensor images, IReadOnlyList<ImageMeta> metas)
    {
        CheckImages(images);
        ArgumentNullException.ThrowIfNull(metas);
        if (metas.Count != images.shape[0]) throw new ArgumentException($"{images.shape[0]} images but {metas.Count} metas.", nameof(metas));
        for (int b = 0; b < metas.Count; b++)
        {
            var m = metas[b];
            if (m.Height < 1 || m.Width < 1 || m.Height > images.shape[2] || m.Width > images.shape[3] || m.OriginalHeight < 1 || m.OriginalWidth < 1)
                throw new ArgumentException($"meta {b} ({m}) must have a valid region of at least 1×1 inside the {images.shape[2]}×{images.shape[3]} batch and a positive original size.", nameof(metas));
        }
    }

    void CheckTarget(DetectionTarget t, ImageMeta meta, int b)
    {
        ArgumentNullException.ThrowIfNull(t);
        BoxOps.CheckBoxes(t.Boxes, $"targets[{b}].Boxes");
        long n = t.Boxes.shape[0];
        if (t.Labels.dim() != 1 || t.Labels.shape[0] != n || t.Labels.is_floating_point())
            throw new ArgumentException($"targets[{b}].Labels must be ({n}) integers; got {t.Labels.dtype} [{string.Join(", ", t.Labels.shape)}].", nameof(t));
        var labels = HostArrays.Longs(t.Labels);
        if (labels.Any(l => l < 0 || l >= NumClasses))
            throw new ArgumentException($"targets[{b}].Labels must be in 0..{NumClasses - 1}; got {labels.First(l => l < 0 || l >= NumClasses)}.", nameof(t));
        if (Config.WithMask && n > 0)
        {
            if (t.Masks is not { } m) throw new ArgumentException($"targets[{b}] has boxes but no masks; this model trains a mask head.", nameof(t));
            if (m.dim() != 3 || m.shape[0] != n || m.shape[1] != meta.Height || m.shape[2] != meta.Width)
                throw new ArgumentException($"targets[{b}].Masks must be ({n}, {meta.Height}, {meta.Width}); got [{string.Join(", ", m.shape)}].", nameof(t));
        }
        if (t.IgnoredBoxes is { } ig) BoxOps.CheckBoxes(ig, $"targets[{b}].IgnoredBoxes");
    }
}
