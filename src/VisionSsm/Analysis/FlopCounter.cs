using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Models;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>A layer that counts its own FLOPs (functional convolutions, attention, …) instead of relying on hooks.</summary>
public interface IFlopCounted
{
    void CountFlops(FlopCounter counter, Tensor input, Tensor output);
}

/// <summary>The FLOPs of one forward pass, by category, and the parameters the convention sees.</summary>
public sealed record FlopReport(FlopConvention Convention, long Total, IReadOnlyDictionary<string, long> ByCategory, long VisibleParameters)
{
    public double GFlops => Total / 1e9;
}

/// <summary>
/// Counts the FLOPs of one forward pass. Standard TorchSharp modules are counted by forward hooks; layers that
/// compute functionally implement <see cref="IFlopCounted"/> or call <see cref="Add"/> through <see cref="Current"/>
/// (the selective scan does so itself). Usage: <c>FlopCounter.Count(model, [1, 3, 224, 224], FlopConvention.Fvcore)</c>.
/// </summary>
public sealed class FlopCounter : IDisposable
{
    [ThreadStatic] static FlopCounter? current;

    /// <summary>The counter active on this thread, or null when nothing is being counted.</summary>
    public static FlopCounter? Current => current;

    readonly Dictionary<string, long> byCategory = new();
    readonly HashSet<nn.Module> visibleModules = new(ReferenceEqualityComparer.Instance);
    readonly FlopCounter? previous;

    public FlopConvention Convention { get; }

    /// <summary>The selective-scan formula used under <see cref="FlopConvention.Fvcore"/> (§2.8 new, §3.8 old).</summary>
    public ScanFlopFormula ScanFormula { get; }

    FlopCounter(FlopConvention convention, ScanFlopFormula scanFormula = ScanFlopFormula.Fn)
    {
        Convention = convention;
        ScanFormula = scanFormula;
        previous = current;
        current = this;
    }

    public void Dispose() => current = previous;

    /// <summary>Adds <paramref name="flops"/> to <paramref name="category"/> (conv, linear, norm, pool, attention, scan, …).</summary>
    public void Add(string category, long flops)
    {
        if (flops == 0) return;
        byCategory[category] = byCategory.GetValueOrDefault(category) + flops;
    }

    /// <summary>Marks a module whose own (non-recursive) parameters the convention counts (thop's params).</summary>
    public void MarkVisible(nn.Module module) => visibleModules.Add(module);

    /// <summary>Counts one selective-scan call: §2.8 in fvcore; nothing in thop (a functional op there).</summary>
    public void AddScan(ScanArguments a)
    {
        if (Convention == FlopConvention.Fvcore)
            Add("scan", ScanFormula == ScanFlopFormula.Ref
                ? ScanRefFlops.Flops(a.Batch, a.Length, a.Channels, a.States, a.D is not null, a.Z is not null)
                : SelectiveScan.Flops(a.Batch, a.Length, a.Channels, a.States, a.D is not null, a.Z is not null));
    }

    /// <summary>Counts a functional matrix product <c>(…, m, k) @ (…, k, n)</c>: MACs in fvcore, nothing in thop.</summary>
    public void AddMatmul(string category, long batch, long m, long k, long n)
    {
        if (Convention == FlopConvention.Fvcore) Add(category, batch * m * k * n);
    }

    /// <summary>Runs one forward pass on zeros of <paramref name="inputShape"/> under no_grad and returns the count.</summary>
    public static FlopReport Count(nn.Module<Tensor, Tensor> model, long[] inputShape, FlopConvention convention,
        ScanFlopFormula scanFormula = ScanFlopFormula.Fn)
    {
        using var counter = new FlopCounter(convention, scanFormula);
        var hooks = new List<IDisposable>();
        foreach (var (_, module) in model.named_modules())
            if (module is nn.Module<Tensor, Tensor> m) hooks.Add(new HookHandle(m, counter));
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
            foreach (var h in hooks) h.Dispose();
            if (wasTraining) model.train();
        }
        long visible = counter.visibleModules.Sum(m => m.parameters(recurse: false).Sum(p => p.numel()));
        return new FlopReport(convention, counter.byCategory.Values.Sum(), new Dictionary<string, long>(counter.byCategory), visible);
    }

    sealed class HookHandle : IDisposable
    {
        readonly Action remove;
        public HookHandle(nn.Module<Tensor, Tensor> module, FlopCounter counter)
        {
            var handle = module.register_forward_hook((m, input, output) =>
            {
                counter.CountModule(m, input, output);
                return output;
            });
            remove = handle.remove;
        }
        public void Dispose() => remove();
    }

    void CountModule(nn.Module module, Tensor input, Tensor output)
    {
        bool thop = Convention == FlopConvention.Thop;
        switch (module)
        {
            case IFlopCounted self:
                self.CountFlops(this, input, output);
                return;
            case Conv1d or Conv2d:
            {
                // numel(out) · (Cin/groups) · kernel volume; bias not counted (fvcore, current thop).
                var w = module.get_parameter("weight")!;
                long perOutput = w.shape.Skip(1).Aggregate(1L, (x, y) => x * y);
                Add("conv", output.numel() * perOutput);
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
