using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// AdamW for a segmentation model, with (a) the no-decay rule of the recipe — mmseg's <c>custom_keys</c> (names
/// containing one of <see cref="SegmentationTrainConfig.NoDecayKeys"/>) or else the classification rule of
/// <see cref="OptimizerFactory.IsNoDecay"/> — and (b) optionally BEiT/Vim's layer-wise lr decay
/// (<c>LayerDecayOptimizerConstructor</c>): layer 0 = <c>pos_embed</c>, <c>cls_token</c>, <c>patch_embed</c>; layer i + 1 =
/// block i (<c>backbone.layers.i</c> / <c>backbone.blocks.i</c>); everything else (norms after the blocks, neck, heads)
/// layer L + 1; lr scale = decay^(L + 1 − layer); and (c) mmseg's <c>lr_mult</c> for names containing <c>backbone</c>
/// (<see cref="AdamWSettings.BackboneLrMult"/>), which lets a pretrained backbone fine-tune slower than the new head.
/// One parameter group per (layer, decay, backbone) triple; <see cref="SetLearningRate"/> applies each group's scale.
/// </summary>
public sealed class SegmentationOptimizer : IDisposable
{
    static readonly Regex Block = new(@"^backbone\.(?:layers|blocks)\.(\d+)\.", RegexOptions.Compiled);

    public AdamW Optimizer { get; }
    /// <summary>lr multiplier of each parameter group, in group order.</summary>
    public IReadOnlyList<double> Scales { get; }

    SegmentationOptimizer(AdamW optimizer, IReadOnlyList<double> scales) => (Optimizer, Scales) = (optimizer, scales);

    /// <summary>True when <paramref name="name"/> (with <paramref name="shape"/>) is exempt from weight decay under <paramref name="config"/>.</summary>
    public static bool IsNoDecay(string name, ReadOnlySpan<long> shape, SegmentationTrainConfig config) => IsNoDecay(name, shape, config.AdamW());

    /// <summary>True when <paramref name="name"/> (with <paramref name="shape"/>) is exempt from weight decay under <paramref name="config"/>.</summary>
    public static bool IsNoDecay(string name, ReadOnlySpan<long> shape, AdamWSettings config) =>
        config.NoDecayKeys is { } keys ? keys.Any(k => name.Contains(k, StringComparison.Ordinal))
            : config.LayerDecay is not null ? shape.Length == 1 || name.EndsWith(".bias", StringComparison.Ordinal) || name.EndsWith("pos_embed", StringComparison.Ordinal) || name.EndsWith("cls_token", StringComparison.Ordinal)
            : OptimizerFactory.IsNoDecay(name, shape);

    /// <summary>The layer id of <paramref name="name"/> for layer-wise decay over <paramref name="layers"/> blocks.</summary>
    public static int LayerId(string name, int layers)
    {
        if (name is "backbone.cls_token" or "backbone.pos_embed" or "backbone.mask_token" || name.StartsWith("backbone.patch_embed", StringComparison.Ordinal)) return 0;
        var m = Block.Match(name);
        return m.Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1 : layers + 1;
    }

    /// <summary>True for the parameters <see cref="AdamWSettings.BackboneLrMult"/> scales: names containing <c>backbone</c> (mmseg's custom_keys match substrings).</summary>
    public static bool IsBackbone(string name) => name.Contains("backbone", StringComparison.Ordinal);

    public static SegmentationOptimizer Create(nn.Module model, SegmentationTrainConfig config) => Create(model, config.AdamW());

    public static SegmentationOptimizer Create(nn.Module model, AdamWSettings config)
    {
        var named = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        int layers = config.LayerDecay is null ? 0
            : named.Select(p => Block.Match(p.name)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1).DefaultIfEmpty(0).Max();
        var groups = new Dictionary<(int Layer, bool Decay, bool Backbone), List<Parameter>>();
        foreach (var (name, p) in named)
        {
            int layer = config.LayerDecay is null ? 0 : LayerId(name, layers);
            bool backbone = config.BackboneLrMult != 1.0 && IsBackbone(name);
            var key = (layer, !IsNoDecay(name, p.shape, config), backbone);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = new List<Parameter>();
            list.Add(p);
        }
        var ordered = groups.OrderBy(g => g.Key.Layer).ThenByDescending(g => g.Key.Backbone).ThenByDescending(g => g.Key.Decay).ToList();
        var paramGroups = ordered.Select(g => new AdamW.ParamGroup(g.Value, new AdamW.Options { weight_decay = g.Key.Decay ? config.WeightDecay : 0.0 })).ToList();
        var scales = ordered.Select(g => (config.LayerDecay is { } d ? Math.Pow(d, layers + 1 - g.Key.Layer) : 1.0)
                                         * (g.Key.Backbone ? config.BackboneLrMult : 1.0)).ToList();
        var adamw = new OwnedScalarAdamW(paramGroups, config.Lr, config.Beta1, config.Beta2, config.Eps, config.WeightDecay);
        return new SegmentationOptimizer(adamw, scales);
    }

    /// <summary>Sets every group's learning rate to <paramref name="lr"/> times its layer scale.</summary>
    public void SetLearningRate(double lr)
    {
        int i = 0;
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = lr * Scales[i++];
    }

    /// <summary>One update: gradients of <paramref name="loss"/>, clipped to total norm <paramref name="clipGrad"/> (0 = off), then the AdamW step.</summary>
    public void Step(Tensor loss, IList<Parameter> parameters, double clipGrad)
    {
        Optimizer.zero_grad();
        loss.backward();
        StepWithGradients(parameters, clipGrad);
    }

    /// <summary>Clips and steps with the gradients already in the parameters' <c>.grad</c> (the data-parallel step's).</summary>
    public void StepWithGradients(IList<Parameter> parameters, double clipGrad)
    {
        if (clipGrad > 0) nn.utils.clip_grad_norm_(parameters, clipGrad);
        Optimizer.step();
    }

    public void Dispose() => Optimizer.Dispose();
}
