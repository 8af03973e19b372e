using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// Builds AdamW with the reference no-weight-decay groups (docs/training.md §1): no decay for 1-D parameters,
/// biases, position embeddings, the class token and the D skips (<c>D</c>, <c>D_b</c>, <c>Ds</c>, which are 1-D or
/// 2-D depending on the family); everything else, including the ≥ 2-D <c>A_log</c>/<c>A_logs</c> and the dt/x
/// projections, is decayed — as in VMamba's <c>set_weight_decay</c> and timm's <c>param_groups_weight_decay</c>.
/// </summary>
public static class OptimizerFactory
{
    static readonly HashSet<string> NoDecayLeafNames = ["D", "D_b", "Ds", "cls_token", "pos_embed", "absolute_pos_embed"];

    /// <summary>True when <paramref name="name"/> (a state_dict key) with shape <paramref name="shape"/> is exempt from weight decay.</summary>
    public static bool IsNoDecay(string name, ReadOnlySpan<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (shape.Length <= 1) return true;
        string leaf = name[(name.LastIndexOf('.') + 1)..];
        // ".bias" only: VMamba's 2-D dt_projs_bias does not end in ".bias" and is decayed.
        return leaf == "bias" || NoDecayLeafNames.Contains(leaf);
    }

    /// <summary>Splits the trainable parameters into (decay, no-decay) name lists, in registration order.</summary>
    public static (IReadOnlyList<string> Decay, IReadOnlyList<string> NoDecay) Split(nn.Module model)
    {
        var decay = new List<string>();
        var noDecay = new List<string>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            (IsNoDecay(name, p.shape) ? noDecay : decay).Add(name);
        }
        return (decay, noDecay);
    }

    /// <summary>TorchSharp's AdamW with two groups: decay (weight decay <see cref="TrainConfig.WeightDecay"/>) and no-decay (0).</summary>
    public static AdamW Create(nn.Module model, TrainConfig config)
    {
        var parameters = model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
        var (decay, noDecay) = Split(model);
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay.Select(n => parameters[n]), new AdamW.Options { weight_decay = config.WeightDecay }),
            new(noDecay.Select(n => parameters[n]), new AdamW.Options { weight_decay = 0.0 }),
        };
        return new OwnedScalarAdamW(groups, config.Lr, config.Beta1, config.Beta2, config.Eps, config.WeightDecay);
    }

    /// <summary>Sets the learning rate of every group (the schedule is applied per iteration).</summary>
    public static void SetLearningRate(optim.Optimizer optimizer, double lr)
    {
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    }
}
