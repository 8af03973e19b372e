using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>The FLOPs of one forward pass, by category, and the parameters the convention sees.</summary>
public sealed record FlopReport(FlopConvention Convention, long Total, IReadOnlyDictionary<string, long> ByCategory, long VisibleParameters)
{
    public double GFlops => Total / 1e9;
}

/// <summary>
/// Counts the FLOPs of one forward pass as an observer: forward hooks on the model's modules, nothing inside the layers.
/// Standard TorchSharp modules (conv, linear, norms, pools, softmax) are counted from their weights and shapes; the
/// layers that compute functionally (<see cref="Mamba"/>, <see cref="BiMamba"/>, <see cref="SS2D"/>,
/// <see cref="GambaBlock"/>, <see cref="GambaCell"/>, <see cref="BotMhsa2d"/>, <see cref="Linear2d"/>,
/// <see cref="LayerNorm2d"/>, <see cref="VitAttention"/>) are counted as a whole by a formula of their config and input
/// shape (<see cref="LayerFlops"/>), and their descendants are not hooked. The count therefore does not depend on which
/// kernel a layer runs. Usage: <c>FlopCounter.Count(model, [1, 3, 224, 224], FlopConvention.Fvcore)</c>.
/// </summary>
public sealed class FlopCounter
{
    readonly object gate = new();
    readonly Dictionary<string, long> byCategory = new();
    readonly HashSet<nn.Module> visibleModules = new(ReferenceEqualityComparer.Instance);

    public FlopConvention Convention { get; }

    /// <summary>The selective-scan formula used under <see cref="FlopConvention.Fvcore"/> (docs/models/vmamba.md §8 new, docs/models/vim.md §8 old).</summary>
    public ScanFlopFormula ScanFormula { get; }

    FlopCounter(FlopConvention convention, ScanFlopFormula scanFormula)
    {
        Convention = convention;
        ScanFormula = scanFormula;
    }

    /// <summary>Adds <paramref name="flops"/> to <paramref name="category"/> (conv, linear, norm, pool, attention, scan, …).</summary>
    internal void Add(string category, long flops)
    {
        if (flops == 0) return;
        // Hooks may fire on the inter-op workers (Runtime/InterOpParallel) as well as on the calling thread.
        lock (gate) byCategory[category] = byCategory.GetValueOrDefault(category) + flops;
    }

    /// <summary>Marks a module whose own (non-recursive) parameters the convention counts (thop's params).</summary>
    internal void MarkVisible(nn.Module module)
    {
        lock (gate) visibleModules.Add(module);
    }

    /// <summary>Counts one selective-scan call: docs/models/vmamba.md §8 in fvcore; nothing in thop (a functional op there).</summary>
    internal void AddScan(long batch, long length, long channels, long states, bool withD, bool withZ)
    {
        if (Convention == FlopConvention.Fvcore)
            Add("scan", ScanFormula == ScanFlopFormula.Ref
                ? ScanRefFlops.Flops(batch, length, channels, states, withD, withZ)
                : SelectiveScan.Flops(batch, length, channels, states, withD, withZ));
    }

    /// <summary>Counts a functional matrix product <c>(…, m, k) @ (…, k, n)</c>: MACs in fvcore, nothing in thop.</summary>
    internal void AddMatmul(string category, long batch, long m, long k, long n)
    {
        if (Convention == FlopConvention.Fvcore) Add(category, batch * m * k * n);
    }

    /// <summary>Runs one forward pass on zeros of <paramref name="inputShape"/> under no_grad and returns the count.</summary>
    public static FlopReport Count(nn.Module<Tensor, Tensor> model, long[] inputShape, FlopConvention convention,
        ScanFlopFormula scanFormula = ScanFlopFormula.Fn)
    {
        ArgumentNullException.ThrowIfNull(model);
        var counter = new FlopCounter(convention, scanFormula);
        var hooks = new List<Action>();
        counter.Attach(model, hooks);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            var dtype = model.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
            model.call(zeros(inputShape, dtype: dtype, device: device));
        }
        finally
        {
            foreach (var remove in hooks) remove();
            if (wasTraining) model.train();
        }
        long visible = counter.visibleModules.Sum(m => m.parameters(recurse: false).Sum(p => p.numel()));
        return new FlopReport(convention, counter.byCategory.Values.Sum(), new Dictionary<string, long>(counter.byCategory), visible);
    }

    /// <summary>
    /// Hooks <paramref name="module"/>; descends into its children unless it is counted as a whole. A module counted as
    /// a whole is only ever run by its parent, so its descendants' calls (or the kernels replacing them) are never seen.
    /// </summary>
    void Attach(nn.Module module, List<Action> hooks)
    {
        if (module is nn.Module<Tensor, Tensor> m)
        {
            bool whole = LayerFlops.CountsAsWhole(m);
            var handle = m.register_forward_hook((mod, input, output) =>
            {
                if (whole) LayerFlops.CountWhole(this, mod, input, output);
                else CountStandard(mod, input, output);
                return output;
            });
            hooks.Add(handle.remove);
            if (whole) return;
        }
        else if (LayerFlops.CountsAsWhole(module))
            throw new NotSupportedException($"{module.GetType().Name} is counted as part of its parent layer; count that layer instead.");
        foreach (var (_, child) in module.named_children()) Attach(child, hooks);
    }

    void CountStandard(nn.Module module, Tensor input, Tensor output)
    {
        bool thop = Convention == FlopConvention.Thop;
        switch (module)
        {
            case Conv1d or Conv2d:
            {
                // numel(out) · (Cin/groups) · kernel volume; bias not counted (fvcore, current thop).
                var w = module.get_parameter("weight")!;
                long perOutput = w.shape.Skip(1).Aggregate(1L, (x, y) => x * y);
                Add("conv", output.numel() * perOutput);
                MarkVisible(module);
                return;
            }
            case ConvTranspose2d:
            {
                // fvcore's transposed conv: numel(input) · (Cout/groups) · kernel area (weight is Cin × Cout/groups × kh × kw).
                var w = module.get_parameter("weight")!;
                Add("conv", input.numel() * w.shape.Skip(1).Aggregate(1L, (x, y) => x * y));
                MarkVisible(module);
                return;
            }
            case Linear:
            {
                var w = module.get_parameter("weight")!;
                Add("linear", output.numel() * w.shape[1]);
                MarkVisible(module);
                return;
            }
            case LayerNorm or GroupNorm:
                Add("norm", (thop ? 2 : 5) * input.numel());   // fvcore: 5·numel with affine
                MarkVisible(module);
                return;
            case BatchNorm1d or BatchNorm2d or Layers.OwnedScalarBatchNorm2d:
                Add("norm", (thop ? 4 : 2) * input.numel());   // thop: 4·numel (affine); fvcore eval: 2·numel
                MarkVisible(module);
                return;
            case AdaptiveAvgPool2d:
                Add("pool", thop ? (input.numel() / output.numel() + 1) * output.numel() : input.numel());
                MarkVisible(module);
                return;
            case AvgPool2d:
                if (thop) Add("pool", output.numel());
                MarkVisible(module);
                return;
            case Softmax:
                if (thop) Add("softmax", output.numel() / output.shape[^1] * (3 * output.shape[^1] - 1));
                MarkVisible(module);
                return;
        }
    }
}
