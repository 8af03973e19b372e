using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>
/// The part of the model API shared by the plain (non-hierarchical) token models, DeiT/ViT and Vim: one class token
/// among the patch tokens (first in DeiT, <c>global_pool='token'</c>; in the middle at M/2 in Vim,
/// <c>use_middle_cls_token</c>), a linear head on it, and one returnable level per block at the patch stride, the class
/// token removed and the patch tokens laid out on the (H/p, W/p) grid (timm's <c>forward_intermediates</c>).
/// </summary>
public abstract class ClassTokenModel : VisionModel
{
    protected ClassTokenModel(string name) : base(name) { }

    protected abstract int EmbedDim { get; }
    protected abstract int PatchSize { get; }
    protected abstract int Depth { get; }
    /// <summary>Patches per side of the built input size.</summary>
    protected abstract int Grid { get; }
    /// <summary>Where the class token sits in the token sequence.</summary>
    protected abstract int ClassTokenIndex { get; }
    /// <summary>The state_dict prefix of block i (<c>blocks</c> in timm, <c>layers</c> in Vim).</summary>
    protected abstract string BlockPrefix { get; }
    /// <summary>The classifier, registered by the family under the key <c>head</c>.</summary>
    protected abstract Module<Tensor, Tensor> Head { get; set; }
    /// <summary>The token sequences (B, M+1, D) the first <paramref name="count"/> blocks output.</summary>
    protected abstract IReadOnlyList<Tensor> BlockOutputs(Tensor x, int count);

    public override int NumFeatures => EmbedDim;

    /// <summary>Refuses an input side that the patch grid does not tile (named after the option that sets it).</summary>
    protected static void CheckPatchGrid(int imageSize, int patchSize)
    {
        if (imageSize < patchSize || imageSize % patchSize != 0)
            throw new ArgumentException($"ImageSize {imageSize} must be a positive multiple of the patch size {patchSize}.", "options");
    }

    /// <summary>The class token of the normalised sequence, then the head.</summary>
    public override Tensor ForwardHead(Tensor features, bool preLogits = false)
    {
        long tokens = (long)Grid * Grid + 1;
        if (features.dim() != 3 || features.shape[1] != tokens || features.shape[2] != EmbedDim)
            throw new ArgumentException($"ForwardHead expects the token sequence (batch, {tokens}, {EmbedDim}); got {Ops.ScanArguments.Fmt(features.shape)}.", nameof(features));
        using var scope = NewDisposeScope();
        var cls = features.select(1, ClassTokenIndex);
        return (preLogits ? cls : Head.call(cls)).MoveToOuterDisposeScope();
    }

    public override void ResetClassifier(int numClasses)
    {
        CheckClasses(numClasses);
        Head = ReplaceChild(this, "head", CreateHead(EmbedDim, numClasses, truncNormal: true));
        NumClasses = numClasses;
    }

    /// <summary>One entry per block (channels D, reduction = patch size), as timm's feature_info.</summary>
    public override IReadOnlyList<FeatureInfo> FeatureInfo =>
        Enumerable.Range(0, Depth).Select(i => new FeatureInfo(i, EmbedDim, PatchSize, $"{BlockPrefix}.{i}")).ToList();

    /// <summary>The last block only (like timm's plain models with <c>indices=1</c>).</summary>
    public override IReadOnlyList<int> DefaultFeatureIndices => [Depth - 1];

    protected override IReadOnlyList<Tensor> Intermediates(Tensor x, int count) => BlockOutputs(x, count).Select(TokensToMap).ToList();

    /// <summary>
    /// Block <paramref name="index"/>'s token sequence through the level tap: the patch tokens as a map, and back into
    /// the sequence with the class token where it was (values unchanged; gradients reach the tapped map).
    /// </summary>
    protected Tensor TapTokens(int index, Tensor tokens)
    {
        if (!Tapped) return tokens;
        var map = Tap(index, TokensToMap(tokens));
        int cls = ClassTokenIndex;
        var patches = map.flatten(2).transpose(1, 2);                           // (B, M, D)
        var token = tokens.narrow(1, cls, 1);
        return cat([patches.narrow(1, 0, cls), token, patches.narrow(1, cls, patches.shape[1] - cls)], 1);
    }

    /// <summary>(B, M+1, D) with the class token at <see cref="ClassTokenIndex"/> → the patch tokens as a (B, D, H/p, W/p) map.</summary>
    public Tensor TokensToMap(Tensor tokens)
    {
        int cls = ClassTokenIndex, g = Grid;
        var patches = cls == 0 ? tokens.narrow(1, 1, tokens.shape[1] - 1)
            : cat([tokens.narrow(1, 0, cls), tokens.narrow(1, cls + 1, tokens.shape[1] - cls - 1)], 1);
        return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], g, g);
    }
}
