using VisionSsm.Runtime;
using TorchSharp.Modules;
using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// Emitters for the generic layers (convolutions, linear maps, norms, pooling, activations) shared by every family.
/// BatchNorm in eval is folded into the convolution before it (w·γ/σ, (b − μ)·γ/σ + β, computed in float64), so a
/// ResNet conv–BN–ReLU is two nodes.
/// </summary>
public static class OnnxLayerEmitters
{
    /// <summary>A Conv2d/Conv1d module at <paramref name="path"/> on NCHW/NCL input, optionally folding the BatchNorm at <paramref name="bnPath"/>.</summary>
    public static OnnxValue Conv(OnnxEmitContext ctx, string path, OnnxValue x, string? bnPath = null, double weightScale = 1.0)
    {
        var g = ctx.Graph;
        var m = ctx.TryM(path) ?? throw new NotSupportedException($"ONNX export: no convolution at '{path}'.");
        long[] stride, padding, dilation;
        long groups;
        switch (m)
        {
            case Conv2d c2: (stride, padding, dilation, groups) = (c2.stride, c2.padding ?? [0, 0], c2.dilation, c2.groups); break;
            case Conv1d c1: (stride, padding, dilation, groups) = (c1.stride, c1.padding ?? [0], c1.dilation, c1.groups); break;
            default: throw new NotSupportedException($"ONNX export: expected a convolution at '{path}', found {m.GetType().Name}.");
        }
        var w = ctx.P(OnnxEmitContext.Join(path, "weight"));
        var b = ctx.TryP(OnnxEmitContext.Join(path, "bias"));
        int spatial = (int)w.dim() - 2;
        if (padding.Length == 1 && spatial == 2) padding = [padding[0], padding[0]];
        var pads = padding.Concat(padding).ToArray();
        if (bnPath is null && weightScale == 1.0)
            return g.Conv(x, ctx.W(OnnxEmitContext.Join(path, "weight")), b is null ? null : ctx.W(OnnxEmitContext.Join(path, "bias")), stride, pads, groups, dilation);
        var (wf, bf) = Fold(ctx, w, b, bnPath, weightScale);
        using (wf) using (bf)
            return g.Conv(x, g.Weight(wf, path + ".weight"), g.Weight(bf, path + ".bias"), stride, pads, groups, dilation);
    }

    /// <summary>Conv weight and bias with a following eval-mode BatchNorm folded in (float64 arithmetic).</summary>
    static (Tensor W, Tensor B) Fold(OnnxEmitContext ctx, Tensor w, Tensor? b, string? bnPath, double scale)
    {
        using var scope = NewDisposeScope();
        var wd = w.to(ScalarType.Float64).Times(scale);
        var bd = b is null ? zeros(w.shape[0], dtype: ScalarType.Float64) : b.to(ScalarType.Float64).Times(scale);
        if (bnPath is not null)
        {
            var bn = ctx.M<OwnedScalarBatchNorm2d>(bnPath);
            var gamma = ctx.P(bnPath + ".weight").to(ScalarType.Float64);
            var beta = ctx.P(bnPath + ".bias").to(ScalarType.Float64);
            var mean = ctx.P(bnPath + ".running_mean").to(ScalarType.Float64);
            var var = ctx.P(bnPath + ".running_var").to(ScalarType.Float64);
            var k = gamma / sqrt(var.PlusScalar(bn.Eps));
            var shape = new long[w.dim()];
            Array.Fill(shape, 1L);
            shape[0] = -1;
            wd = wd * k.view(shape);
            bd = ((bd - mean) * k).Plus(beta);
        }
        return (wd.MoveToOuterDisposeScope(), bd.MoveToOuterDisposeScope());
    }

    /// <summary>An eval-mode BatchNorm on NCHW as one BatchNormalization node.</summary>
    public static OnnxValue BatchNorm(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var bn = ctx.M<OwnedScalarBatchNorm2d>(path);
        var inputs = new[] { "weight", "bias", "running_mean", "running_var" }.Select(n => ctx.W(path + "." + n).Name);
        return ctx.Graph.Node("BatchNormalization", [x.Name, .. inputs], x.Shape, [OnnxGraph.Attr("epsilon", (float)bn.Eps)]);
    }

    /// <summary>A Linear module (or an Identity) at <paramref name="path"/> over the last axis; <paramref name="scale"/> folds a constant factor in.</summary>
    public static OnnxValue Linear(OnnxEmitContext ctx, string path, OnnxValue x, double scale = 1.0)
    {
        var m = ctx.TryM(path);
        if (m is Identity) return x;
        if (m is Sequential)                     // timm/BoTNet heads: Dropout (identity in eval) then Linear
        {
            var last = ctx.Children(path).Last();
            foreach (var (name, child) in ctx.Children(path))
                if (child is not (Dropout or Layers.StreamDropout or Identity) && name != last.Name)
                    throw new NotSupportedException($"ONNX export: unexpected {child.GetType().Name} in the head '{path}'.");
            return Linear(ctx, OnnxEmitContext.Join(path, last.Name), x, scale);
        }
        return ctx.Graph.Linear(x, ctx.P(path + ".weight"), ctx.TryP(path + ".bias"), path, scale);
    }

    /// <summary>LayerNorm over the last axis with the parameters at <paramref name="path"/>.</summary>
    public static OnnxValue LayerNorm(OnnxEmitContext ctx, string path, OnnxValue x, double eps) =>
        ctx.Graph.LayerNorm(x, ctx.W(path + ".weight"), ctx.W(path + ".bias"), eps);

    /// <summary>RMSNorm over the last axis (Vim, docs/models/vim.md §3): x · (mean(x²) + ε)^−½ · w.</summary>
    public static OnnxValue RmsNorm(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var norm = ctx.M<RmsNorm>(path);
        var ms = g.ReduceMean(g.Mul(x, x), keepDims: true, -1);
        var rms = g.Unary("Sqrt", g.Add(ms, g.Scalar((float)norm.Eps)));
        return g.Mul(g.Div(x, rms), ctx.W(path + ".weight"));
    }
}
