using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// Exponential moving average of a model's weights and buffers (timm <c>ModelEmaV2</c>): after each optimiser step
/// <c>ema ← decay·ema + (1 − decay)·model</c> for every floating-point state_dict entry; integer buffers
/// (BatchNorm's <c>num_batches_tracked</c>) are copied. The EMA copy is a separate module built by the same factory,
/// so it can be evaluated alongside the model.
/// </summary>
public sealed class ModelEma : IDisposable
{
    readonly List<(Tensor Ema, Tensor Model)> pairs = new();

    public nn.Module<Tensor, Tensor> Module { get; }
    public double Decay { get; }

    /// <param name="model">The trained model.</param>
    /// <param name="copy">A freshly built module of the same architecture; it receives the model's state.</param>
    public ModelEma(nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor> copy, double decay)
    {
        if (decay is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "expected 0 < decay < 1");
        Module = copy;
        Decay = decay;
        var source = model.state_dict();
        var target = copy.state_dict();
        foreach (var (name, t) in source)
        {
            if (!target.TryGetValue(name, out var e))
                throw new ArgumentException($"EMA copy has no entry '{name}': expected the same architecture as the model.", nameof(copy));
            pairs.Add((e, t));
        }
        using (no_grad())
            foreach (var (e, t) in pairs) e.copy_(t);
        foreach (var p in copy.parameters()) p.requires_grad = false;
        copy.eval();
    }

    /// <summary>One EMA update; call after every optimiser step.</summary>
    public void Update()
    {
        using var _ = no_grad();
        using var decay = Decay.ToScalar();
        using var rest = (1 - Decay).ToScalar();
        foreach (var (e, t) in pairs)
        {
            if (e.is_floating_point()) e.mul_(decay).add_(t, rest);
            else e.copy_(t);
        }
    }

    public void Dispose() => Module.Dispose();
}
