using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// Emitters for the Mamba mixers on (B, L, d_model) (docs/models/mamba.md §1): in_proj, causal depthwise conv1d (ONNX
/// pads (K−1, 0), so no trailing outputs to cut), SiLU, x_proj and dt_proj as batched matmuls giving channel-major dt,
/// B and C, the loop-free scan (<see cref="OnnxScanEmitter"/>) gated by SiLU(z), out_proj. Vim's two directions run
/// as one scan over 2·Di channels with per-direction B and C as G = 2 groups (as <c>BiMamba.ForwardFused</c>).
/// </summary>
public static class OnnxMambaEmitters
{
    /// <summary>The unidirectional mixer (<see cref="Mamba"/>) at <paramref name="path"/>.</summary>
    public static OnnxValue Mamba(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var cfg = ctx.M<Mamba>(path).Config;
        long di = cfg.DInner, r = cfg.Rank, n = cfg.DState, l = x[1];
        var (xs, z) = InProjection(ctx, path, x, di);
        var u = g.Silu(CausalConv(ctx, xs, [path + ".conv1d"], di));
        var dbl = g.MatMul(ctx.W(path + ".x_proj.weight"), u);                          // (B, R+2N, L)
        var parts = g.Split(dbl, 1, r, n, n);
        var dt = g.MatMul(ctx.W(path + ".dt_proj.weight"), parts[0]);                   // (B, Di, L)
        using var a = -exp(ctx.P(path + ".A_log"));
        var y = OnnxScanEmitter.Emit(g, u, dt, a, parts[1], parts[2], ctx.P(path + ".D"), z, ctx.P(path + ".dt_proj.bias"),
            deltaSoftplus: true, ctx.Options.ScanChunkLength, path);
        return OnnxLayerEmitters.Linear(ctx, path + ".out_proj", g.Transpose(y, 0, 2, 1));
    }

    /// <summary>Vim's bidirectional mixer (<see cref="BiMamba"/>) at <paramref name="path"/>, both directions in one scan.</summary>
    public static OnnxValue BiMamba(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var mixer = ctx.M<BiMamba>(path);
        var cfg = mixer.Config;
        long di = cfg.DInner, r = cfg.Rank, n = cfg.DState, l = x[1];
        var (xs, z) = InProjection(ctx, path, x, di);
        // Backward direction on the flipped sequence (docs/models/vim.md §4): [x | flip x], [z | flip z].
        var both = g.Concat(1, xs, g.Flip(xs, 2));
        var zBoth = g.Concat(1, z, g.Flip(z, 2));
        var u = g.Silu(CausalConv(ctx, both, [path + ".conv1d", path + ".conv1d_b"], 2 * di));   // (B, 2Di, L)
        using var wx = stack([ctx.P(path + ".x_proj.weight"), ctx.P(path + ".x_proj_b.weight")]);     // (2, R+2N, Di)
        var dbl = g.MatMul(g.Weight(wx, path + ".x_proj"), g.Reshape(u, -1, 2, di, l));             // (B, 2, R+2N, L)
        var parts = g.Split(dbl, 2, r, n, n);
        using var wdt = stack([ctx.P(path + ".dt_proj.weight"), ctx.P(path + ".dt_proj_b.weight")]);  // (2, Di, R)
        var dt = g.Reshape(g.MatMul(g.Weight(wdt, path + ".dt_proj"), parts[0]), -1, 2 * di, l);
        using var a = -exp(cat([ctx.P(path + ".A_log"), ctx.P(path + ".A_b_log")]));
        using var d = cat([ctx.P(path + ".D"), ctx.P(path + ".D_b")]);
        using var bias = cat([ctx.P(path + ".dt_proj.bias"), ctx.P(path + ".dt_proj_b.bias")]);
        var y = OnnxScanEmitter.Emit(g, u, dt, a, parts[1], parts[2], d, zBoth, bias, deltaSoftplus: true, ctx.Options.ScanChunkLength, path);
        var halves = g.Reshape(y, -1, 2, di, l);
        var sum = g.Add(g.Slice(halves, 1, 0, 1), g.Flip(g.Slice(halves, 1, 1, 2), 3));          // forward + backward flipped back
        var tokens = g.Transpose(g.Reshape(sum, -1, di, l), 0, 2, 1);
        // if_divide_out: the average of the directions, its ½ folded into out_proj.
        return OnnxLayerEmitters.Linear(ctx, path + ".out_proj", tokens, mixer.DivideOut ? 0.5 : 1.0);
    }

    /// <summary>in_proj on (B, L, Dm) → channel-major halves x, z (B, Di, L).</summary>
    static (OnnxValue X, OnnxValue Z) InProjection(OnnxEmitContext ctx, string path, OnnxValue x, long di)
    {
        var g = ctx.Graph;
        var xz = g.Transpose(OnnxLayerEmitters.Linear(ctx, path + ".in_proj", x), 0, 2, 1);   // (B, 2Di, L)
        var parts = g.Split(xz, 1, di, di);
        return (parts[0], parts[1]);
    }

    /// <summary>Causal depthwise conv1d of width K: pads (K−1, 0); the convolutions at <paramref name="paths"/> stacked on channels.</summary>
    static OnnxValue CausalConv(OnnxEmitContext ctx, OnnxValue x, string[] paths, long channels)
    {
        var g = ctx.Graph;
        using var w = cat(paths.Select(p => ctx.P(p + ".weight")).ToArray());                     // (C, 1, K)
        var biases = paths.Select(p => ctx.TryP(p + ".bias")).ToArray();
        long k = w.shape[2];
        OnnxValue? b = null;
        if (biases.All(t => t is not null))
        {
            using var bc = cat(biases.Select(t => t!).ToArray());
            b = g.Weight(bc, paths[0] + ".bias");
        }
        else if (biases.Any(t => t is not null)) throw new NotSupportedException($"ONNX export: conv1d biases differ in presence at {paths[0]}.");
        return g.Conv(x, g.Weight(w, paths[0] + ".weight"), b, [1], [k - 1, 0], channels);
    }
}
