using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Segmentation.Models;

namespace VisionSsm.Export;

/// <summary>
/// UperNet (<see cref="SegmentationModel"/>, docs/segmentation.md §2) as ONNX: the backbone's levels from the family
/// emitters (a context rooted at the backbone, so its paths are the classification ones), the per-level output norms,
/// Vim's deconvolution pyramid or DeiT's multi-level neck, and <see cref="UPerHead"/> — ConvModules with BatchNorm
/// folded into the conv, the PPM's adaptive average pooling as constant averaging matrices (ONNX has no adaptive
/// pooling), bilinear resizes as <c>Resize</c> (half_pixel, linear). The graph computes <see cref="SegmentationModel.Predict"/>:
/// logits resized to the input size, so an argmax over classes is the label map. The auxiliary head is not exported
/// (training only).
/// </summary>
public static class OnnxSegmentationEmitter
{
    /// <summary>Input (B, C, H, W) → logits (B, K, H, W), as <see cref="SegmentationModel.Predict"/>.</summary>
    public static OnnxValue Model(OnnxEmitContext ctx, OnnxEmitContext backboneCtx, SegmentationModel model, OnnxValue input)
    {
        var g = ctx.Graph;
        long h = input[2], w = input[3];
        var x = input;
        bool padded = false;
        if (model.FixedInputSide is { } side && (h != side || w != side))
        {
            if (h > side || w > side)
                throw new ArgumentException($"backbone '{model.Config.Backbone}' was built for inputs up to {side}×{side} (its parameters depend on the size); " +
                                            $"cannot export at {h}×{w}. Export at ≤ {side}, or build the model for the larger size.", "size");
            // SegmentationModel.PadToFixedSide: zeros at the bottom and right.
            x = g.Node("Pad", [x.Name, g.Ints(0, 0, 0, 0, 0, 0, side - h, side - w)], [x[0], x[1], side, side]);
            padded = true;
        }
        var maps = Levels(backboneCtx, model, x);
        if (model.Config.Neck == SegmentationNeck.MultiLevel) maps = MultiLevelNeck(ctx, "neck", maps);
        var logits = UPerHead(ctx, "decode_head", maps);
        if (padded)
        {
            // SegmentationModel.CropToInput: keep the ⌈h/r⌉ × ⌈w/r⌉ logits that cover the original input.
            long r = model.FixedInputSide!.Value / logits[2];
            logits = g.Slice(g.Slice(logits, 2, 0, (h + r - 1) / r), 3, 0, (w + r - 1) / r);
        }
        return ResizeTo(g, logits, input);
    }

    /// <summary>
    /// Bilinear resize of <paramref name="x"/> to the spatial size of <paramref name="like"/>: constant sizes when it is known
    /// at export, else read from <paramref name="like"/>'s Shape at run time (a dynamic-size graph, docs/export.md §5).
    /// </summary>
    static OnnxValue ResizeTo(OnnxGraph g, OnnxValue x, OnnxValue like)
    {
        if (like[2] >= 0 && like[3] >= 0) return g.Resize(x, like[2], like[3]);
        var sizes = g.Node("Concat", [g.Node("Shape", [x.Name], [2], [OnnxGraph.Attr("start", 0L), OnnxGraph.Attr("end", 2L)]).Name,
            g.Node("Shape", [like.Name], [2], [OnnxGraph.Attr("start", 2L), OnnxGraph.Attr("end", 4L)]).Name], [4], [OnnxGraph.Attr("axis", 0L)]);
        return g.ResizeNode(x, sizes.Name, [x[0], x[1], like[2], like[3]]);
    }

    /// <summary>The pyramid the decode head reads (<see cref="SegmentationModel.ExtractFeatures"/>), NCHW maps, finest first.</summary>
    static IReadOnlyList<OnnxValue> Levels(OnnxEmitContext bctx, SegmentationModel model, OnnxValue x) =>
        Levels(bctx, model.Backbone, model.Config.FeatureIndices, model.Config.Neck == SegmentationNeck.Pyramid, x);

    /// <summary>
    /// The levels of <see cref="BackboneLevels.Forward"/> (shared with the detectors): backbone intermediates at
    /// <paramref name="indices"/>, the <c>outnorm{i}</c> norms when the backbone has them, Vim's pyramid when asked; NCHW, finest first.
    /// </summary>
    internal static IReadOnlyList<OnnxValue> Levels(OnnxEmitContext bctx, VisionModel backbone, IReadOnlyList<int> indices, bool pyramid, OnnxValue x)
    {
        var g = bctx.Graph;
        int count = indices.Max() + 1;
        var all = new List<OnnxValue>();
        bool nhwc = false;
        switch (backbone)
        {
            case VMamba:
                OnnxVMambaEmitter.Stages(bctx, x, count, all);
                nhwc = true;
                break;
            case ResNet:
                all.AddRange(OnnxResNetEmitter.Stages(bctx, x, count));
                break;
            case Vim v:
                var streams = new List<OnnxValue>();
                OnnxTokenModelEmitter.VimLayers(bctx, v, x, count, streams);
                all.AddRange(streams.Select(t => OnnxTokenModelEmitter.TokensToMap(g, t, v.Config.ClsIndex, v.Config.GridSize)));
                break;
            case Vit vit:
                var outputs = new List<OnnxValue>();
                OnnxTokenModelEmitter.VitBlocks(bctx, vit, x, count, outputs);
                long grid = (long)Math.Round(Math.Sqrt(outputs[0][1] - 1));
                all.AddRange(outputs.Select(t => OnnxTokenModelEmitter.TokensToMap(g, t, 0, grid)));
                break;
            default:
                throw new NotSupportedException($"ONNX export: no level emitter for the backbone type {backbone.GetType().Name}.");
        }
        var maps = new List<OnnxValue>();
        foreach (int i in indices)
        {
            var m = all[i];
            if (bctx.TryM($"outnorm{i}") is LayerNorm2d norm)   // LayerNorm2d: a last-axis LayerNorm on NHWC
            {
                var v = nhwc ? m : g.Transpose(m, 0, 2, 3, 1);
                m = OnnxLayerEmitters.LayerNorm(bctx, $"outnorm{i}", v, norm.Eps);
                maps.Add(g.Transpose(m, 0, 3, 1, 2));
            }
            else maps.Add(nhwc ? g.Transpose(m, 0, 3, 1, 2) : m);
        }
        if (pyramid)
        {
            if (maps.Count != 4) throw new NotSupportedException($"ONNX export: the pyramid neck takes 4 maps; got {maps.Count}.");
            maps = maps.Select((m, k) => Walk(bctx, $"fpn{k + 1}", m)).ToList();
        }
        return maps;
    }

    /// <summary>A pyramid branch (<see cref="PyramidNeck"/>): a Sequential of, or one, ConvTranspose2d, BatchNorm, GELU, MaxPool2d, Identity.</summary>
    static OnnxValue Walk(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var g = ctx.Graph;
        var m = ctx.TryM(path) ?? throw new NotSupportedException($"ONNX export: no module at '{path}'.");
        var steps = m is Sequential ? ctx.Children(path).Select(c => (Path: OnnxEmitContext.Join(path, c.Name), c.Module)).ToList() : [(Path: path, Module: m)];
        foreach (var (p, child) in steps)
            x = child switch
            {
                Identity => x,
                ConvTranspose2d ct => ConvTranspose(ctx, p, ct, x),
                OwnedScalarBatchNorm2d => OnnxLayerEmitters.BatchNorm(ctx, p, x),
                GELU => g.Gelu(x),
                MaxPool2d pool => g.Pool("MaxPool", x, pool.kernel_size, pool.stride ?? pool.kernel_size, [.. pool.padding ?? [0, 0], .. pool.padding ?? [0, 0]]),
                _ => throw new NotSupportedException($"ONNX export: no emitter for {child.GetType().Name} at '{p}' in the pyramid neck."),
            };
        return x;
    }

    internal static OnnxValue ConvTranspose(OnnxEmitContext ctx, string path, ConvTranspose2d m, OnnxValue x)
    {
        if ((m.padding ?? [0, 0]).Any(p => p != 0) || (m.output_padding ?? [0, 0]).Any(p => p != 0) || m.groups != 1 || m.dilation.Any(d => d != 1))
            throw new NotSupportedException($"ONNX export: the transposed convolution at '{path}' has padding, groups or dilation; only the pyramid's plain 2×2/2 form is supported.");
        var b = ctx.TryP(path + ".bias");
        return ctx.Graph.ConvTranspose(x, ctx.W(path + ".weight"), b is null ? null : ctx.W(path + ".bias"), m.stride);
    }

    /// <summary>mmseg's MultiLevelNeck (<see cref="Segmentation.Models.MultiLevelNeck"/>): 1×1 lateral, resize by the scale (floored), 3×3 conv.</summary>
    static IReadOnlyList<OnnxValue> MultiLevelNeck(OnnxEmitContext ctx, string path, IReadOnlyList<OnnxValue> inputs)
    {
        var neck = ctx.M<MultiLevelNeck>(path);
        var result = new List<OnnxValue>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var x = ConvModule(ctx, $"{path}.lateral_convs.{i}", inputs[i]);
            long h = Math.Max(1, (long)Math.Floor(x[2] * neck.Scales[i])), w = Math.Max(1, (long)Math.Floor(x[3] * neck.Scales[i]));
            result.Add(ConvModule(ctx, $"{path}.convs.{i}", ctx.Graph.Resize(x, h, w)));
        }
        return result;
    }

    /// <summary>mmcv ConvModule: conv (BatchNorm folded in when present) → ReLU when present.</summary>
    internal static OnnxValue ConvModule(OnnxEmitContext ctx, string path, OnnxValue x)
    {
        var m = ctx.M<ConvModule>(path);
        var y = OnnxLayerEmitters.Conv(ctx, path + ".conv", x, m.Norm ? path + ".bn" : null);
        return m.Act ? ctx.Graph.Unary("Relu", y) : y;
    }

    /// <summary><see cref="Segmentation.Models.UPerHead.forward"/>: PPM + bottleneck on the last level, laterals, top-down sum, FPN convs, fuse, conv_seg.</summary>
    static OnnxValue UPerHead(OnnxEmitContext ctx, string path, IReadOnlyList<OnnxValue> inputs)
    {
        var g = ctx.Graph;
        var head = ctx.M<UPerHead>(path);
        if (inputs.Count != head.InChannels.Count) throw new NotSupportedException($"ONNX export: UPerHead takes {head.InChannels.Count} maps; got {inputs.Count}.");
        int levels = inputs.Count;
        var laterals = new OnnxValue[levels];
        for (int i = 0; i < levels - 1; i++) laterals[i] = ConvModule(ctx, $"{path}.lateral_convs.{i}", inputs[i]);
        // psp_forward: [x, resize(ConvModule(AdaptiveAvgPool(x, s)), x) for s in scales] → bottleneck.
        var last = inputs[^1];
        var ppm = new List<OnnxValue> { last };
        var psp = ctx.M<PyramidPoolingModule>(path + ".psp_modules");
        for (int j = 0; j < psp.PoolScales.Count; j++)
        {
            int s = psp.PoolScales[j];
            var branch = ConvModule(ctx, $"{path}.psp_modules.{j}.1", AdaptiveAvgPool(g, last, s, s, $"{path}.psp_modules.{j}.pool"));
            ppm.Add(ResizeTo(g, branch, last));
        }
        laterals[^1] = ConvModule(ctx, path + ".bottleneck", g.Concat(1, [.. ppm]));
        for (int i = levels - 1; i > 0; i--) laterals[i - 1] = g.Add(laterals[i - 1], ResizeTo(g, laterals[i], laterals[i - 1]));
        var outs = new OnnxValue[levels];
        for (int i = 0; i < levels - 1; i++) outs[i] = ConvModule(ctx, $"{path}.fpn_convs.{i}", laterals[i]);
        outs[^1] = laterals[^1];
        for (int i = 1; i < levels; i++) outs[i] = ResizeTo(g, outs[i], outs[0]);
        var feats = ConvModule(ctx, path + ".fpn_bottleneck", g.Concat(1, outs));
        return OnnxLayerEmitters.Conv(ctx, path + ".conv_seg", feats);                     // Dropout2d: identity in eval
    }

    /// <summary>
    /// PyTorch's <c>adaptive_avg_pool2d</c> of NCHW <paramref name="x"/> to <paramref name="outH"/>×<paramref name="outW"/>
    /// for its fixed input size: y = P_H · x · P_Wᵀ with the constant averaging matrices of <see cref="AdaptivePoolMatrix"/>
    /// (two MatMuls; one ReduceMean for a 1×1 output; an axis whose size does not change is left alone).
    /// </summary>
    public static OnnxValue AdaptiveAvgPool(OnnxGraph g, OnnxValue x, long outH, long outW, string hint)
    {
        long h = x[2], w = x[3];
        if (outH < 1 || outW < 1) throw new ArgumentOutOfRangeException(nameof(outH), $"output size {outH}×{outW} must be positive.");
        if (outH == 1 && outW == 1) return g.ReduceMean(x, keepDims: true, 2, 3);
        var y = x;
        if (w < 0) y = g.MatMul(y, g.Transpose(RunTimePoolMatrix(g, x, 3, outW), 1, 0));
        else if (outW != w)
        {
            var pw = AdaptivePoolMatrix(w, outW);                                              // (outW, W) → stored transposed (W, outW)
            var t = new float[w * outW];
            for (long i = 0; i < outW; i++)
                for (long j = 0; j < w; j++) t[j * outW + i] = pw[i * w + j];
            y = g.MatMul(y, g.FloatTensor(t, [w, outW], hint + ".w"));
        }
        if (h < 0) y = g.MatMul(RunTimePoolMatrix(g, x, 2, outH), y);
        else if (outH != h) y = g.MatMul(g.FloatTensor(AdaptivePoolMatrix(h, outH), [outH, h], hint + ".h"), y);
        return y;
    }

    /// <summary>
    /// <see cref="AdaptivePoolMatrix"/> for an axis whose length n is known only at run time (a dynamic-size graph): bin
    /// i covers [⌊i·n/m⌋, ⌈(i+1)·n/m⌉) — integer Div of non-negative values is the floor, ⌈a/m⌉ = ⌊(a + m − 1)/m⌋ —
    /// and an input j is in it when start ≤ j &lt; end; entries 1/(end − start). An (m, n) float matrix.
    /// </summary>
    static OnnxValue RunTimePoolMatrix(OnnxGraph g, OnnxValue x, int axis, long m)
    {
        var n = g.Node("Shape", [x.Name], [1], [OnnxGraph.Attr("start", (long)axis), OnnxGraph.Attr("end", (long)axis + 1)]);
        var bins = g.Node("Reshape", [g.Ints([.. Enumerable.Range(0, (int)m).Select(i => (long)i)]), g.Ints(m, 1)], [m, 1]);
        var next = g.Node("Add", [bins.Name, g.IntScalar(1)], [m, 1]);
        var start = g.Node("Div", [g.Node("Mul", [bins.Name, n.Name], [m, 1]).Name, g.IntScalar(m)], [m, 1]);
        var end = g.Node("Div", [g.Node("Add", [g.Node("Mul", [next.Name, n.Name], [m, 1]).Name, g.IntScalar(m - 1)], [m, 1]).Name, g.IntScalar(m)], [m, 1]);
        var j = g.Node("Range", [g.IntScalar(0), g.Node("Squeeze", [n.Name, g.Ints(0)], []).Name, g.IntScalar(1)], [-1]);
        var inBin = g.Node("And", [g.Node("GreaterOrEqual", [j.Name, start.Name], [m, -1]).Name, g.Node("Less", [j.Name, end.Name], [m, -1]).Name], [m, -1]);
        var width = g.Node("Cast", [g.Node("Sub", [end.Name, start.Name], [m, 1]).Name], [m, 1], [OnnxGraph.Attr("to", 1L)]);
        return g.Div(g.Node("Cast", [inBin.Name], [m, -1], [OnnxGraph.Attr("to", 1L)]), width);
    }

    /// <summary>
    /// The (output, input) averaging matrix of 1-D adaptive average pooling (PyTorch <c>AdaptiveAveragePooling.cpp</c>):
    /// bin i covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) and each entry in it is 1/(its width). Bins overlap when in/out is not
    /// an integer, and repeat inputs when out &gt; in.
    /// </summary>
    public static float[] AdaptivePoolMatrix(long input, long output)
    {
        if (input < 1 || output < 1) throw new ArgumentOutOfRangeException(nameof(input), $"sizes {input} → {output} must be positive.");
        var m = new float[output * input];
        for (long i = 0; i < output; i++)
        {
            long start = i * input / output, end = ((i + 1) * input + output - 1) / output;
            float v = (float)(1.0 / (end - start));
            for (long j = start; j < end; j++) m[i * input + j] = v;
        }
        return m;
    }
}
