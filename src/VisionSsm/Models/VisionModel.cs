using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>
/// The base of every zoo model: <see cref="forward"/> is <c>ForwardHead(ForwardFeatures(x))</c>, and
/// <see cref="ForwardIntermediates"/> checks the indices against <see cref="FeatureInfo"/> before a family computes them.
/// </summary>
public abstract class VisionModel : Module<Tensor, Tensor>, IVisionModel
{
    protected VisionModel(string name) : base(name) { }

    public abstract Tensor ForwardFeatures(Tensor x);
    public abstract Tensor ForwardHead(Tensor features, bool preLogits = false);
    public abstract void ResetClassifier(int numClasses);
    public abstract int NumFeatures { get; }
    public int NumClasses { get; protected set; }
    public abstract IReadOnlyList<FeatureInfo> FeatureInfo { get; }

    /// <summary>The indices <see cref="ForwardIntermediates"/> returns when given none.</summary>
    public abstract IReadOnlyList<int> DefaultFeatureIndices { get; }

    public sealed override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return ForwardHead(ForwardFeatures(x)).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<Tensor> ForwardIntermediates(Tensor x, IReadOnlyList<int>? indices = null)
    {
        var take = (indices ?? DefaultFeatureIndices).ToArray();
        int count = FeatureInfo.Count;
        foreach (int i in take)
            if (i < 0 || i >= count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"feature index {i} is outside the valid range 0..{count - 1} of {GetType().Name}");
        if (take.Length == 0) return [];
        using var scope = NewDisposeScope();
        var maps = Intermediates(x, take.Max() + 1);
        var result = take.Select(i => maps[i].alias()).ToList();
        foreach (var t in result) t.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>The first <paramref name="count"/> feature maps (indices 0..count-1), (B, C, H, W).</summary>
    protected abstract IReadOnlyList<Tensor> Intermediates(Tensor x, int count);

    Func<int, Tensor, Tensor>? levelTap;

    /// <summary>
    /// Routes every <see cref="FeatureInfo"/> level through <paramref name="tap"/> while the returned handle lives, in
    /// every pass (forward, ForwardFeatures, ForwardIntermediates): the tap gets (index, the level's (B, C, H, W) map, the
    /// same values ForwardIntermediates returns) and returns the tensor the model continues with. Returning the map as
    /// given (after keeping it) lets a caller take the gradient of any output with respect to a level, as a forward hook
    /// does in PyTorch (Grad-CAM); the forward values are unchanged. One tap at a time.
    /// </summary>
    public IDisposable TapLevels(Func<int, Tensor, Tensor> tap)
    {
        ArgumentNullException.ThrowIfNull(tap);
        if (levelTap is not null) throw new InvalidOperationException($"{GetType().Name} already has a level tap.");
        levelTap = tap;
        return new TapHandle(this);
    }

    sealed class TapHandle(VisionModel owner) : IDisposable
    {
        public void Dispose() => owner.levelTap = null;
    }

    /// <summary>Whether a tap is set (a family may skip building a level map in its forward pass when none is).</summary>
    protected bool Tapped => levelTap is not null;

    /// <summary>Level <paramref name="index"/>'s map through the tap (itself when no tap is set).</summary>
    protected Tensor Tap(int index, Tensor map) => levelTap is null ? map : levelTap(index, map);

    /// <summary>
    /// Swaps the registered child <paramref name="name"/> of <paramref name="owner"/> for <paramref name="replacement"/>,
    /// moved to the dtype and device of this model's parameters (so the state_dict key stays the same).
    /// </summary>
    protected T ReplaceChild<T>(Module owner, string name, T replacement) where T : Module
    {
        var first = parameters().FirstOrDefault();
        if (first is not null) replacement.to(first.device, first.dtype);
        owner.register_module(name, null!);   // TorchSharp unregisters a child given null
        owner.register_module(name, replacement);
        return replacement;
    }

    /// <summary>
    /// A classifier <c>Linear(inFeatures, numClasses)</c>, or Identity for 0 classes (timm). <paramref name="truncNormal"/>:
    /// weight trunc_normal(std 0.02), bias 0 (timm / VMamba / Vim init); otherwise PyTorch's default Linear init.
    /// </summary>
    protected static Module<Tensor, Tensor> CreateHead(int inFeatures, int numClasses, bool truncNormal)
    {
        if (numClasses == 0) return Identity();
        var head = Linear(inFeatures, numClasses);
        if (truncNormal)
        {
            Layers.WeightInit.TruncNormal(head.weight!, 0.02);
            using (no_grad()) head.bias!.zero_();
        }
        return head;
    }

    /// <summary>The index list 0..n-1.</summary>
    protected static IReadOnlyList<int> All(int n) => Enumerable.Range(0, n).ToArray();

    /// <summary>Checks <paramref name="numClasses"/> for <see cref="ResetClassifier"/>.</summary>
    protected static void CheckClasses(int numClasses)
    {
        if (numClasses < 0) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected ≥ 0 (0 = identity head)");
    }
}
