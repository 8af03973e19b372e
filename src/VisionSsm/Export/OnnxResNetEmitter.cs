using VisionSsm.Runtime;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Models;

namespace VisionSsm.Export;

/// <summary>
/// ResNet, BoTNet and vGamba (docs/models/baselines.md, docs/models/vgamba.md) as ONNX on NCHW: convolutions with their
/// BatchNorm folded in, bottlenecks, and the mixers that replace a bottleneck's 3×3 conv: BoTNet's MHSA and vGamba's
/// Gamba block (Gamba cell = positional term + Mamba + context mask; MHSA with the registers' heads dropped, since their
/// outputs are discarded; gated fusion).
/// </summary>
public static class OnnxResNetEmitter
{
    public static OnnxValue Model(OnnxEmitContext ctx, ResNet model, OnnxValue x)
    {
        var g = ctx.Graph;
        var y = Stages(ctx, x, 4)[^1];
        var pooled = g.ReduceMean(y, keepDims: false, 2, 3);                                     // avgpool + flatten
        return OnnxLayerEmitters.Linear(ctx, "fc", pooled);
    }

    /// <summary>The outputs of the first <paramref name="count"/> stages (the <c>FeatureInfo</c> levels), NCHW.</summary>
    public static IReadOnlyList<OnnxValue> Stages(OnnxEmitContext ctx, OnnxValue x, int count)
    {
        var g = ctx.Graph;
        var y = g.Unary("Relu", OnnxLayerEmitters.Conv(ctx, "conv1", x, bnPath: "bn1"));
        if (ctx.TryM("maxpool") is MaxPool2d pool)
            y = g.Pool("MaxPool", y, pool.kernel_size, pool.stride ?? pool.kernel_size, [.. pool.padding ?? [0, 0], .. pool.padding ?? [0, 0]]);
        var levels = new List<OnnxValue>();
        for (int s = 1; s <= count; s++)
        {
            foreach (var (name, _) in ctx.Children($"layer{s}"))
                y = Bottleneck(ctx, $"layer{s}.{name}", y);
            levels.Add(y);
        }
        return levels;
    }

    /// <summary>torchvision Bottleneck v1.5: 1×1 → 3×3 (or mixer [→ AvgPool 2×2]) → 1×1, each with BN; shortcut; ReLU.</summary>
    static OnnxValue Bottleneck(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        string J(string n) => OnnxEmitContext.Join(path, n);
        var y = g.Unary("Relu", OnnxLayerEmitters.Conv(ctx, J("conv1"), x, J("bn1")));
        if (ctx.TryM(J("conv2")) is Conv2d)
            y = OnnxLayerEmitters.Conv(ctx, J("conv2"), y, J("bn2"));
        else
        {
            foreach (var (name, child) in ctx.Children(J("conv2")))
            {
                string p = OnnxEmitContext.Join(J("conv2"), name);
                y = child switch
                {
                    GambaBlock => Gamba(ctx, p, y),
                    BotMhsa2d => Mhsa(ctx, p, y),
                    AvgPool2d => g.Pool("AveragePool", y, [2, 2], [2, 2], [0, 0, 0, 0]),
                    _ => throw new NotSupportedException($"ONNX export: no emitter for {child.GetType().Name} at '{p}'."),
                };
            }
            y = OnnxLayerEmitters.BatchNorm(ctx, J("bn2"), y);
        }
        y = OnnxLayerEmitters.Conv(ctx, J("conv3"), g.Unary("Relu", y), J("bn3"));
        var shortcut = ctx.Children(path).FirstOrDefault(c => c.Name is "downsample" or "shortcut");
        var identity = shortcut.Module is null ? x : OnnxLayerEmitters.Conv(ctx, J(shortcut.Name) + ".0", x, J(shortcut.Name) + ".1");
        return g.Unary("Relu", g.Add(y, identity));
    }

    /// <summary>The Gamba block (docs/models/vgamba.md §2): halves through the cell and the MHSA, then gated fusion or concatenation.</summary>
    static OnnxValue Gamba(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var block = ctx.M<GambaBlock>(path);
        if (block.Mixer == GambaMixer.MhsaOnly) return Mhsa(ctx, path + ".mhsa", x);
        if (block.Mixer == GambaMixer.CellOnly) return Cell(ctx, path + ".ggnn", x);
        long half = block.Planes / 2;
        var halves = g.Split(x, 1, half, half);
        var a = Cell(ctx, path + ".ggnn", halves[0]);
        var b = Mhsa(ctx, path + ".mhsa", halves[1]);
        if (block.Mixer == GambaMixer.Concatenated) return g.Concat(1, a, b);
        // Gated fusion: σ(gate(P_a a))·P_a a + σ(gate(P_b b))·P_b b.
        OnnxValue Gated(string proj, OnnxValue v)
        {
            var p = OnnxLayerEmitters.Conv(ctx, $"{path}.gating.{proj}", v);
            return g.Mul(g.Unary("Sigmoid", OnnxLayerEmitters.Conv(ctx, $"{path}.gating.gate", p)), p);
        }
        return g.Add(Gated("proj_a", a), Gated("proj_b", b));
    }

    /// <summary>The Gamba cell on (B, c, S, S): (x + rel_h + rel_w) as Np tokens, Mamba, ⊙ context mask, reshaped back.</summary>
    static OnnxValue Cell(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var cell = ctx.M<GambaCell>(path);
        long c = cell.Dim, side = cell.Side, np = side * side;
        var flat = g.Reshape(x, -1, c, np);                                                        // (B, c, Np)
        if (cell.Options.PositionalEmbedding)
        {
            using var pos = ctx.P(path + ".rel_h").Plus(ctx.P(path + ".rel_w")).reshape(1, c, np);
            flat = g.Add(flat, g.Weight(pos, path + ".pos"));
        }
        var t = g.Transpose(flat, 0, 2, 1);                                                        // (B, Np, c)
        var m = OnnxMambaEmitters.Mamba(ctx, path + ".mamba_block", t);
        if (cell.Options.Bidirectional)
            m = g.Mul(g.Add(m, g.Flip(OnnxMambaEmitters.Mamba(ctx, path + ".mamba_block", g.Flip(t, 1)), 1)), g.Scalar(0.5f));
        if (cell.Options.ContextMask)
        {
            var mask = g.Unary("Sigmoid", OnnxLayerEmitters.Conv(ctx, path + ".gate.0", flat));  // conv1d over tokens, (B, c, Np)
            m = g.Mul(m, g.Transpose(mask, 0, 2, 1));
        }
        // Faithful layout: the (B, Np, c) buffer read as (B, c, S, S); fixed: transposed first.
        return cell.Options.FixLayout ? g.Reshape(g.Transpose(m, 0, 2, 1), -1, c, side, side) : g.Reshape(m, -1, c, side, side);
    }

    /// <summary>BoTNet MHSA (docs/models/vgamba.md §2): energy = qᵀk + rᵀq, softmax over keys, out = v·attnᵀ; q, k, v as one 1×1 conv.</summary>
    static OnnxValue Mhsa(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var mhsa = ctx.M<BotMhsa2d>(path);
        long dim = mhsa.Dim, heads = mhsa.Heads, d = dim / heads, side = mhsa.Side, np = side * side;
        // ScaleLogits multiplies both terms by 1/√d: folded into K's weights (k only meets q) and into r.
        double scale = mhsa.ScaleLogits ? 1.0 / Math.Sqrt(d) : 1.0;
        using var w = TorchSharp.torch.cat([ctx.P(path + ".Q.weight"), ctx.P(path + ".K.weight").Times(scale), ctx.P(path + ".V.weight")]);
        using var b = TorchSharp.torch.cat([ctx.P(path + ".Q.bias"), ctx.P(path + ".K.bias").Times(scale), ctx.P(path + ".V.bias")]);
        var qkv = g.Conv(x, g.Weight(w, path + ".qkv.weight"), g.Weight(b, path + ".qkv.bias"), [1, 1], [0, 0, 0, 0], 1);
        var parts = g.Split(g.Reshape(qkv, -1, 3 * heads, d, np), 1, heads, heads, heads);        // each (B, h, d, Np)
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        using var r = ctx.P(path + ".rel_h").Plus(ctx.P(path + ".rel_w")).reshape(1, heads, d, np).transpose(2, 3).Times(scale).contiguous();
        var energy = g.Add(g.MatMul(g.Transpose(q, 0, 1, 3, 2), k), g.MatMul(g.Weight(r, path + ".rel"), q));   // (B, h, Np, Np)
        var attn = g.Softmax(energy, -1);
        var o = g.MatMul(v, g.Transpose(attn, 0, 1, 3, 2));                                       // (B, h, d, Np)
        return g.Reshape(o, -1, dim, side, side);
    }
}
