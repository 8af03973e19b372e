using VisionSsm.Runtime;
using TorchSharp.Modules;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// The plain token models as ONNX: DeiT/ViT (timm <c>VisionTransformer</c>: pre-norm attention and MLP blocks, class
/// token first) and Vim (docs/models/vim.md: middle class token, RMSNorm residual stack of bidirectional Mamba layers).
/// The patch embedding is one strided convolution; the class token is broadcast over the batch with Expand.
/// </summary>
public static class OnnxTokenModelEmitter
{
    public static OnnxValue Vit(OnnxEmitContext ctx, Vit model, OnnxValue x)
    {
        var g = ctx.Graph;
        var t = VitBlocks(ctx, model, x, ctx.Children("blocks").Count(), null);
        var cls = g.Select(LayerNorm(ctx, "norm", t), 1, 0);
        return OnnxLayerEmitters.Linear(ctx, "head", cls);
    }

    /// <summary>Embedding and the first <paramref name="count"/> blocks; each block's output (B, N+1, D) is added to <paramref name="outputs"/>.</summary>
    public static OnnxValue VitBlocks(OnnxEmitContext ctx, Vit model, OnnxValue x, int count, List<OnnxValue>? outputs)
    {
        var g = ctx.Graph;
        var t = PatchEmbed(ctx, x);
        t = g.Add(g.Concat(1, ClassToken(ctx, t), t), ctx.W("pos_embed"));
        foreach (var (name, _) in ctx.Children("blocks").Take(count))
        {
            string p = "blocks." + name;
            t = g.Add(t, Attention(ctx, p + ".attn", model.Config.Heads, LayerNorm(ctx, p + ".norm1", t)));
            var hidden = g.Gelu(OnnxLayerEmitters.Linear(ctx, p + ".mlp.fc1", LayerNorm(ctx, p + ".norm2", t)));
            t = g.Add(t, OnnxLayerEmitters.Linear(ctx, p + ".mlp.fc2", hidden));
            outputs?.Add(t);
        }
        return t;
    }

    /// <summary>Vim (docs/models/vim.md §2–§5): r = r + h, h = mixer(RMSNorm(r)) per layer; norm_f(r + h); head on the middle token.</summary>
    public static OnnxValue Vim(OnnxEmitContext ctx, Vim model, OnnxValue x)
    {
        var g = ctx.Graph;
        var (hidden, residual) = VimLayers(ctx, model, x, ctx.Children("layers").Count(), null);
        var final = OnnxLayerEmitters.RmsNorm(ctx, "norm_f", residual is null ? hidden : g.Add(residual, hidden));
        return OnnxLayerEmitters.Linear(ctx, "head", g.Select(final, 1, model.Config.ClsIndex));
    }

    /// <summary>
    /// Embedding and the first <paramref name="count"/> Vim layers; each layer's residual stream r + h (B, M+1, D) is
    /// added to <paramref name="streams"/> (the <c>FeatureInfo</c> levels). Returns the last (hidden, residual).
    /// </summary>
    public static (OnnxValue Hidden, OnnxValue? Residual) VimLayers(OnnxEmitContext ctx, Vim model, OnnxValue x, int count, List<OnnxValue>? streams)
    {
        var g = ctx.Graph;
        var t = PatchEmbed(ctx, x);
        long m = t[1];
        int mid = model.Config.ClsIndex;
        t = g.Add(g.Concat(1, g.Slice(t, 1, 0, mid), ClassToken(ctx, t), g.Slice(t, 1, mid, m)), ctx.W("pos_embed"));
        OnnxValue hidden = t;
        OnnxValue? residual = null;
        foreach (var (name, _) in ctx.Children("layers").Take(count))
        {
            string p = "layers." + name;
            var r = residual is null ? hidden : g.Add(residual, hidden);
            hidden = OnnxMambaEmitters.BiMamba(ctx, p + ".mixer", OnnxLayerEmitters.RmsNorm(ctx, p + ".norm", r));
            residual = r;
            streams?.Add(g.Add(r, hidden));
        }
        return (hidden, residual);
    }

    /// <summary>
    /// A token sequence (B, M+1, D) with the class token at <paramref name="classIndex"/> → the patch tokens as a
    /// (B, D, grid, grid) map (<c>ClassTokenModel.TokensToMap</c>).
    /// </summary>
    public static OnnxValue TokensToMap(OnnxGraph g, OnnxValue tokens, int classIndex, long grid)
    {
        long n = tokens[1], d = tokens[2];
        var patches = classIndex == 0 ? g.Slice(tokens, 1, 1, n)
            : g.Concat(1, g.Slice(tokens, 1, 0, classIndex), g.Slice(tokens, 1, classIndex + 1, n));
        return g.Reshape(g.Transpose(patches, 0, 2, 1), -1, d, grid, grid);
    }

    /// <summary>patch_embed.proj (p×p, stride p) → flatten → (B, M, D).</summary>
    static OnnxValue PatchEmbed(OnnxEmitContext ctx, OnnxValue x)
    {
        var g = ctx.Graph;
        var y = OnnxLayerEmitters.Conv(ctx, "patch_embed.proj", x);                              // (B, D, g, g)
        return g.Transpose(g.Reshape(y, -1, y[1], y[2] * y[3]), 0, 2, 1);
    }

    /// <summary>cls_token (1, 1, D) broadcast to (B, 1, D), B read from <paramref name="like"/> at run time.</summary>
    static OnnxValue ClassToken(OnnxEmitContext ctx, OnnxValue like)
    {
        var g = ctx.Graph;
        var batch = g.Node("Shape", [like.Name], [1], [OnnxGraph.Attr("start", 0L), OnnxGraph.Attr("end", 1L)]);
        var shape = g.Node("Concat", [batch.Name, g.Ints(1, like[2])], [3], [OnnxGraph.Attr("axis", 0L)]);
        return g.Node("Expand", [ctx.W("cls_token").Name, shape.Name], [-1, 1, like[2]]);
    }

    static OnnxValue LayerNorm(OnnxEmitContext ctx, string path, OnnxValue x) =>
        OnnxLayerEmitters.LayerNorm(ctx, path, x, ctx.M<LayerNorm>(path).eps);

    /// <summary>timm Attention: qkv → heads → softmax(q kᵀ/√d) v → proj; the 1/√d is folded into q's weights.</summary>
    static OnnxValue Attention(OnnxEmitContext ctx, string path, int heads, OnnxValue x)
    {
        var g = ctx.Graph;
        long n = x[1], c = x[2], d = c / heads;
        using var scale = ones(3 * c, dtype: ScalarType.Float64);
        using (var s = TorchSharp.ScalarExtensionMethods.ToScalar(1.0 / Math.Sqrt(d))) scale.narrow(0, 0, c).fill_(s);
        using var w = (ctx.P(path + ".qkv.weight").to(ScalarType.Float64) * scale.unsqueeze(1)).to(ScalarType.Float32);
        using var b = (ctx.P(path + ".qkv.bias").to(ScalarType.Float64) * scale).to(ScalarType.Float32);
        var qkv = g.Add(g.MatMul(x, g.Weight(w.t(), path + ".qkv.weight")), g.Weight(b, path + ".qkv.bias"));
        var parts = g.Split(qkv, -1, c, c, c);
        var q = g.Transpose(g.Reshape(parts[0], -1, n, heads, d), 0, 2, 1, 3);                  // (B, h, N, d)
        var kT = g.Transpose(g.Reshape(parts[1], -1, n, heads, d), 0, 2, 3, 1);                 // (B, h, d, N)
        var v = g.Transpose(g.Reshape(parts[2], -1, n, heads, d), 0, 2, 1, 3);
        var attn = g.Softmax(g.MatMul(q, kT), -1);
        var o = g.Reshape(g.Transpose(g.MatMul(attn, v), 0, 2, 1, 3), -1, n, c);
        return OnnxLayerEmitters.Linear(ctx, path + ".proj", o);
    }
}
