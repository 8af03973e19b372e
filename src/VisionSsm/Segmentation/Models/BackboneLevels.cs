using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// A zoo backbone as a dense-prediction backbone (mmseg/mmdet <c>backbone</c>): the classification model without its
/// classifier, the <see cref="IVisionModel.FeatureInfo"/> levels a head reads, optional per-level LayerNorm2d output
/// norms (<c>outnorm{i}</c>, VMamba's <c>Backbone_VSSM</c>) and, for plain backbones, Vim's deconvolution pyramid
/// (<c>fpn1</c>–<c>fpn4</c>); both are registered on the backbone so state-dict keys read <c>backbone.outnorm0.weight</c>.
/// Shared by <see cref="SegmentationModel"/> and the detectors (Detection/Models). Not a module itself: the owner
/// registers <see cref="Backbone"/> as its <c>backbone</c> child.
/// </summary>
public sealed class BackboneLevels
{
    readonly LayerNorm2d[] outNorms;
    readonly PyramidNeck? pyramid;
    readonly int[] featureIndices;

    public VisionModel Backbone { get; }
    /// <summary>The input side the backbone was built for when its parameters depend on it; null when any size works.</summary>
    public int? FixedInputSide { get; }
    /// <summary>Channels of each returned level.</summary>
    public IReadOnlyList<int> Channels { get; }
    /// <summary>Input side / map side of each returned level.</summary>
    public IReadOnlyList<int> Reductions { get; }

    /// <param name="backbone">Zoo name.</param>
    /// <param name="featureIndices">FeatureInfo levels to return, finest first.</param>
    /// <param name="outNorms">Add <c>outnorm{i}</c> LayerNorm2d per level.</param>
    /// <param name="pyramid">Turn same-stride plain-model levels into a 4/8/16/32 pyramid (<see cref="PyramidNeck"/>).</param>
    /// <param name="dropChildren">Backbone children to unregister (the classifier pieces dense checkpoints lack).</param>
    /// <param name="options">Model options; NumClasses, Dtype and Device are ignored here (the owner converts once).</param>
    public BackboneLevels(string backbone, IReadOnlyList<int> featureIndices, bool outNorms, bool pyramid, IReadOnlyList<string>? dropChildren,
        ModelOptions options, double? dropPathRate)
    {
        Backbone = ModelZoo.Create(backbone, options with { NumClasses = 0, DropPathRate = dropPathRate, Dtype = null, Device = null });
        var info = Backbone.FeatureInfo;
        foreach (int i in featureIndices)
            if (i < 0 || i >= info.Count)
                throw new ArgumentException($"backbone '{backbone}' has feature levels 0..{info.Count - 1}; the config asks for {i}.", nameof(featureIndices));
        this.featureIndices = featureIndices.ToArray();
        FixedInputSide = Backbone switch
        {
            Vim v => v.Config.ImageSize,
            Vit vit => vit.Config.ImageSize,
            ResNet r when r.FixedInputSize => r.Config.ImageSize,
            _ => null,
        };
        foreach (var name in dropChildren ?? []) Backbone.register_module(name, null!);   // TorchSharp unregisters a child given null
        var levels = featureIndices.Select(i => info[i]).ToArray();
        int[] widths = levels.Select(l => l.Channels).ToArray();
        int[] reductions = levels.Select(l => l.Reduction).ToArray();
        this.outNorms = [];
        if (outNorms)
        {
            this.outNorms = featureIndices.Select(i => new LayerNorm2d(info[i].Channels)).ToArray();
            for (int k = 0; k < this.outNorms.Length; k++) Backbone.register_module($"outnorm{featureIndices[k]}", this.outNorms[k]);
        }
        if (pyramid)
        {
            if (widths.Length != 4 || widths.Distinct().Count() != 1)
                throw new ArgumentException("the pyramid neck needs 4 levels of one width.", nameof(featureIndices));
            this.pyramid = new PyramidNeck(widths[0]);
            this.pyramid.RegisterOn(Backbone);
            reductions = PyramidNeck.Scales.Select(s => Math.Max(1, (int)Math.Round(reductions[0] / s))).ToArray();
        }
        Channels = widths;
        Reductions = reductions;
    }

    /// <summary>The levels of <paramref name="x"/>: backbone intermediates → output norms → pyramid.</summary>
    public IReadOnlyList<Tensor> Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        IReadOnlyList<Tensor> maps = Backbone.ForwardIntermediates(x, featureIndices);
        if (outNorms.Length > 0) maps = maps.Select((m, k) => outNorms[k].call(m)).ToList();
        if (pyramid is not null) maps = pyramid.Forward(maps);
        foreach (var m in maps) m.MoveToOuterDisposeScope();
        return maps;
    }

    /// <summary>Zero-pads <paramref name="x"/> at the bottom and right to <see cref="FixedInputSide"/> (no-op without one).</summary>
    public Tensor PadToFixedSide(Tensor x)
    {
        if (FixedInputSide is not { } s || (x.shape[2] == s && x.shape[3] == s)) return x;
        if (x.shape[2] > s || x.shape[3] > s)
            throw new ArgumentException($"the backbone was built for inputs up to {s}×{s} (its parameters depend on the size); got {x.shape[2]}×{x.shape[3]}. " +
                                        "Build it with ModelOptions.ImageSize at least the input side.", nameof(x));
        return nn.functional.pad(x, [0, s - x.shape[3], 0, s - x.shape[2]]);
    }

    /// <summary>Backbone keys a classification checkpoint cannot hold: the output norms and the pyramid's.</summary>
    public HashSet<string> DenseOnlyKeys()
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in Backbone.state_dict())
            if (name.StartsWith("outnorm", StringComparison.Ordinal) || name.StartsWith("fpn", StringComparison.Ordinal)) keys.Add(name);
        return keys;
    }
}
