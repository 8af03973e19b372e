using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// VMamba (docs/models/vmamba.md) as ONNX. Activations stay NHWC between blocks, as in our forward (channels-last), so
/// LayerNorm2d, Linear2d and the MLP are last-axis ops with no transposes; only the convolutions (stem, depthwise 3×3,
/// downsample) see NCHW. The four cross-scan routes are one (B, 4·Di, L) scan with B and C as K = 4 groups.
/// </summary>
public static class OnnxVMambaEmitter
{
    /// <summary>A layout-tracked value: NHWC (true) or NCHW.</summary>
    readonly record struct Map(OnnxValue V, bool Nhwc);

    public static OnnxValue Model(OnnxEmitContext ctx, VMamba model, OnnxValue input)
    {
        var g = ctx.Graph;
        var x = Stages(ctx, input, model.Config.Dims.Length, null);
        // classifier: norm (LN2d) → avgpool → flatten → head.
        var features = LayerNorm2d(ctx, "classifier.norm", x);
        var pooled = g.ReduceMean(features, keepDims: false, 1, 2);                              // (B, C)
        return OnnxLayerEmitters.Linear(ctx, "classifier.head", pooled);
    }

    /// <summary>
    /// The stem and the first <paramref name="count"/> stages; each stage's block output (a <c>FeatureInfo</c> level,
    /// before downsampling) is added to <paramref name="levels"/> in NHWC (B, H, W, C). Returns the last stage's
    /// downsampled output, NHWC.
    /// </summary>
    public static OnnxValue Stages(OnnxEmitContext ctx, OnnxValue input, int count, List<OnnxValue>? levels)
    {
        var g = ctx.Graph;
        var x = Walk(ctx, "patch_embed", new Map(input, false));
        for (int i = 0; i < count; i++)
        {
            var blocks = $"layers.{i}.blocks";
            foreach (var (name, _) in ctx.Children(blocks))
                x = new Map(VssBlock(ctx, OnnxEmitContext.Join(blocks, name), Nhwc(g, x)), true);
            levels?.Add(Nhwc(g, x));
            x = Walk(ctx, $"layers.{i}.downsample", x);
        }
        return Nhwc(g, x);
    }

    /// <summary>A stem or downsample: a Sequential (or one module) of Conv2d, LayerNorm2d, GELU, Identity, PatchMerging2d.</summary>
    static Map Walk(OnnxEmitContext ctx, string path, Map x)
    {
        var g = ctx.Graph;
        var m = ctx.TryM(path);
        var steps = m is Sequential ? ctx.Children(path).Select(c => (Path: OnnxEmitContext.Join(path, c.Name), c.Module)).ToList()
            : [(Path: path, Module: m!)];
        foreach (var (p, child) in steps)
            x = child switch
            {
                Identity => x,
                Conv2d => new Map(OnnxLayerEmitters.Conv(ctx, p, Nchw(g, x)), false),
                Layers.LayerNorm2d => new Map(LayerNorm2d(ctx, p, Nhwc(g, x)), true),
                GELU => new Map(g.Gelu(x.V), x.Nhwc),
                PatchMerging2d => new Map(PatchMerging(ctx, p, Nhwc(g, x)), true),
                _ => throw new NotSupportedException($"ONNX export: no emitter for {child.GetType().Name} at '{p}' in VMamba."),
            };
        return x;
    }

    static OnnxValue Nhwc(OnnxGraph g, Map x) => x.Nhwc ? x.V : g.Transpose(x.V, 0, 2, 3, 1);
    static OnnxValue Nchw(OnnxGraph g, Map x) => x.Nhwc ? g.Transpose(x.V, 0, 3, 1, 2) : x.V;

    static OnnxValue LayerNorm2d(OnnxEmitContext ctx, string path, OnnxValue nhwc) =>
        OnnxLayerEmitters.LayerNorm(ctx, path, nhwc, ctx.M<Layers.LayerNorm2d>(path).Eps);

    /// <summary>VSS block (docs/models/vmamba.md §5) on NHWC: x + SS2D(LN(x)), then x + MLP(LN(x)).</summary>
    static OnnxValue VssBlock(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        x = g.Add(x, Ss2d(ctx, path + ".op", LayerNorm2d(ctx, path + ".norm", x)));
        if (ctx.TryM(path + ".mlp") is null) return x;
        var h = g.Gelu(OnnxLayerEmitters.Linear(ctx, path + ".mlp.fc1", LayerNorm2d(ctx, path + ".norm2", x)));
        return g.Add(x, OnnxLayerEmitters.Linear(ctx, path + ".mlp.fc2", h));
    }

    /// <summary>SS2D (docs/models/vmamba.md §6 steps 1–8) on NHWC (B, H, W, C).</summary>
    static OnnxValue Ss2d(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var cfg = ctx.M<SS2D>(path).Config;
        long h = x[1], w = x[2], l = h * w, di = cfg.DInner, r = cfg.Rank, n = cfg.DState, k = Ss2dConfig.Routes;
        var xz = OnnxLayerEmitters.Linear(ctx, path + ".in_proj", x);                              // step 1
        OnnxValue u = xz, z = null!;
        if (cfg.WithZ)
        {
            var halves2 = g.Split(xz, -1, di, di);                                                 // docs/models/vmamba.md §10: x, z
            (u, z) = (halves2[0], halves2[1]);
        }
        u = g.Silu(OnnxLayerEmitters.Conv(ctx, path + ".conv2d", g.Transpose(u, 0, 3, 1, 2)));      // step 2: (B, Di, H, W)
        // Step 3, cross-scan: k0 row-major, k1 column-major, k2/k3 their reverses → (B, 4, Di, L).
        var rows = g.Reshape(u, -1, 1, di, l);
        var cols = g.Reshape(g.Transpose(u, 0, 1, 3, 2), -1, 1, di, l);
        var fwd = g.Concat(1, rows, cols);
        var xs = g.Concat(1, fwd, g.Flip(fwd, 3));
        var dbl = g.MatMul(ctx.W(path + ".x_proj_weight"), xs);                                     // step 4: (B, K, R+2N, L)
        var parts = g.Split(dbl, 2, r, n, n);
        var dts = g.MatMul(ctx.W(path + ".dt_projs_weight"), parts[0]);                             // (B, K, Di, L)
        using var a = -exp(ctx.P(path + ".A_logs"));
        using var bias = ctx.P(path + ".dt_projs_bias").reshape(k * di);
        var ys = OnnxScanEmitter.Emit(g, g.Reshape(xs, -1, k * di, l), g.Reshape(dts, -1, k * di, l), a, parts[1], parts[2],
            ctx.P(path + ".Ds"), null, bias, deltaSoftplus: true, ctx.Options.ScanChunkLength, path);   // step 5
        // Step 6, cross-merge: (k0 + flip k2) row-major, (k1 + flip k3) column-major, summed on the NHWC map.
        var routes = g.Reshape(ys, -1, k, di, l);
        var halves = g.Add(g.Slice(routes, 1, 0, 2), g.Flip(g.Slice(routes, 1, 2, 4), 3));
        var rowMajor = g.Transpose(g.Reshape(g.Slice(halves, 1, 0, 1), -1, di, h, w), 0, 2, 3, 1);
        var colMajor = g.Transpose(g.Reshape(g.Slice(halves, 1, 1, 2), -1, di, w, h), 0, 3, 2, 1);
        var y = LayerNorm2d(ctx, path + ".out_norm", g.Add(rowMajor, colMajor));                   // step 7
        if (cfg.WithZ) y = g.Mul(y, g.Silu(z));
        return OnnxLayerEmitters.Linear(ctx, path + ".out_proj", y);                                // step 8
    }

    /// <summary>PatchMerging2D (docs/models/vmamba.md §10) on NHWC: 2×2 neighbours concatenated, LN(4C), linear.</summary>
    static OnnxValue PatchMerging(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        long h = x[1], w = x[2];
        if (h % 2 == 1 || w % 2 == 1)
        {
            var pads = new long[] { 0, 0, 0, 0, 0, h % 2, w % 2, 0 };
            x = g.Node("Pad", [x.Name, g.Ints(pads)], [x[0], h + h % 2, w + w % 2, x[3]]);
        }
        OnnxValue Pick(long r0, long c0) => g.SliceStep(g.SliceStep(x, 1, r0, 2), 2, c0, 2);
        var merged = g.Concat(-1, Pick(0, 0), Pick(1, 0), Pick(0, 1), Pick(1, 1));
        return OnnxLayerEmitters.Linear(ctx, path + ".reduction", LayerNorm2d(ctx, path + ".norm", merged));
    }
}
