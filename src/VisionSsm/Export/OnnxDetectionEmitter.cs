using Onnx;
using VisionSsm.Detection.Boxes;
using VisionSsm.Detection.Models;

namespace VisionSsm.Export;

/// <summary>The graph outputs of a detector: boxes (D, 4), scores (D), labels (D, int64), mask probabilities (D, M, M) or none.</summary>
public sealed record OnnxDetectionOutputs(OnnxValue Boxes, OnnxValue Scores, OnnxValue Labels, OnnxValue? Masks);

/// <summary>
/// Mask R-CNN (<see cref="MaskRcnn"/>, docs/detection.md) as one ONNX graph for one image of a fixed size, computing
/// <see cref="MaskRcnn.Predict"/> with the whole input as the image (no rescale; docs/export.md §7): the backbone's levels
/// from the family emitters, the FPN (nearest top-down resize, max-pool extra level), the RPN (anchors as constants,
/// per-level <c>TopK</c>, box decoding, clipping, zero-side boxes dropped with <c>NonZero</c>, NMS within each level,
/// the best N overall), RoIAlign from the level chosen by box size (ONNX <c>RoiAlign</c>, half_pixel = mmcv's
/// aligned=True, adaptive sampling), the box head with class-wise NMS and the mask head on the kept boxes. The masks
/// stay M×M probabilities of each box's class; pasting them into the image is left to the caller (<see cref="MaskPaste"/>).
/// NMS of several groups (levels, classes) is one <c>NonMaxSuppression</c> with the group as its class axis: each box
/// scores −1 outside its own group and the score threshold −½ drops it there, so groups never suppress each other and
/// no coordinate offset (whose float rounding would move IoUs) is needed.
/// </summary>
public static class OnnxDetectionEmitter
{
    const long Int64 = (long)TensorProto.Types.DataType.Int64;

    /// <summary>Input (1, C, H, W) → the detections of <see cref="MaskRcnn.Predict"/> with meta (H, W, H, W).</summary>
    public static OnnxDetectionOutputs Model(OnnxEmitContext ctx, OnnxEmitContext backboneCtx, MaskRcnn model, OnnxValue input)
    {
        var g = ctx.Graph;
        long h = input[2], w = input[3];
        if (h < 1 || w < 1) throw new NotSupportedException("ONNX export: a detector needs its input size at export (anchors and per-level counts depend on it).");
        var x = input;
        if (model.BackboneLevels.FixedInputSide is { } side && (h != side || w != side))
        {
            if (h > side || w > side)
                throw new ArgumentException($"backbone '{model.Config.Backbone}' was built for inputs up to {side}×{side}; cannot export at {h}×{w}.", "size");
            x = g.Node("Pad", [x.Name, g.Ints(0, 0, 0, 0, 0, 0, side - h, side - w)], [x[0], x[1], side, side]);   // BackboneLevels.PadToFixedSide
        }
        var cfg = model.Config;
        var maps = OnnxSegmentationEmitter.Levels(backboneCtx, model.Backbone, cfg.FeatureIndices, cfg.Pyramid, x);
        var feats = Fpn(ctx, "neck", maps);
        var proposals = Proposals(ctx, model, feats, h, w);
        var roiLevels = feats.Take(feats.Count - 1).ToArray();
        var strides = model.Strides.Take(roiLevels.Length).ToArray();

        // StandardRoIHead.predict_bbox: box head on every proposal, softmax, class-specific boxes, score threshold, class-wise NMS, best N.
        const string box = "roi_head.bbox_head";
        var rf = MultiLevelRoiAlign(g, roiLevels, strides, proposals, cfg.BoxRoiSize, cfg.FinestScale);
        var f = Reshape(g, rf, -1, rf[1] * rf[2] * rf[3]);
        for (int i = 0; i < 2; i++) f = g.Unary("Relu", g.Linear(f, ctx.P($"{box}.shared_fcs.{i}.weight"), ctx.P($"{box}.shared_fcs.{i}.bias"), $"{box}.shared_fcs.{i}"));
        var cls = g.Linear(f, ctx.P($"{box}.fc_cls.weight"), ctx.P($"{box}.fc_cls.bias"), $"{box}.fc_cls");
        var reg = g.Linear(f, ctx.P($"{box}.fc_reg.weight"), ctx.P($"{box}.fc_reg.bias"), $"{box}.fc_reg");
        long k = model.NumClasses;
        var fg = Reshape(g, g.Slice(g.Softmax(cls, 1), 1, 0, k), -1);                                    // (R·K), row-major (roi, class)
        var boxes = Reshape(g, Decode(g, proposals, Reshape(g, reg, -1, k, 4), model.Roi.Coder, h, w), -1, 4);
        var cand = Reshape(g, g.Node("NonZero", [g.Node("Greater", [fg.Name, g.Scalar((float)cfg.ScoreThreshold).Name], fg.Shape).Name], [1, -1]), -1);
        var cb = Gather(g, boxes, cand);
        var cs = Gather(g, fg, cand);
        var cl = g.Node("Mod", [cand.Name, g.IntScalar(k)], cand.Shape);
        var keep = GroupedNms(g, cb, cs, cl, k, cfg.NmsIou, cfg.MaxDetections);
        var db = Gather(g, cb, keep);
        var ds = Gather(g, cs, keep);
        var dl = Gather(g, cl, keep);
        if (model.Roi.MaskHead is null) return new OnnxDetectionOutputs(db, ds, dl, null);

        // StandardRoIHead.predict_mask on the kept boxes (scale 1: they are in the input's pixels), each box's class channel, sigmoid.
        const string mask = "roi_head.mask_head";
        var m = MultiLevelRoiAlign(g, roiLevels, strides, db, cfg.MaskRoiSize, cfg.FinestScale);
        for (int i = 0; i < cfg.MaskConvs; i++) m = OnnxSegmentationEmitter.ConvModule(ctx, $"{mask}.convs.{i}", m);
        m = g.Unary("Relu", g.ConvTranspose(m, ctx.W($"{mask}.upsample.weight"), ctx.W($"{mask}.upsample.bias"), [2, 2]));
        var logits = OnnxLayerEmitters.Conv(ctx, $"{mask}.conv_logits", m);                                 // (D, K, M, M)
        long ms = logits[2];
        var index = g.Node("Expand", [Reshape(g, dl, -1, 1, 1, 1).Name,
            g.Node("Concat", [g.Node("Shape", [dl.Name], [1]).Name, g.Ints(1, ms, ms)], [4], [OnnxGraph.Attr("axis", 0L)]).Name], [-1, 1, ms, ms]);
        var picked = g.Node("GatherElements", [logits.Name, index.Name], [-1, 1, ms, ms], [OnnxGraph.Attr("axis", 1L)]);
        var probs = g.Unary("Sigmoid", g.Squeeze(picked, 1));
        return new OnnxDetectionOutputs(db, ds, dl, probs);
    }

    /// <summary><see cref="Detection.Models.Fpn"/>: laterals, nearest top-down sum, 3×3 output convs, max_pool2d(1, stride 2) extra level.</summary>
    static List<OnnxValue> Fpn(OnnxEmitContext ctx, string path, IReadOnlyList<OnnxValue> inputs)
    {
        var g = ctx.Graph;
        var laterals = inputs.Select((x, i) => OnnxSegmentationEmitter.ConvModule(ctx, $"{path}.lateral_convs.{i}", x)).ToArray();
        for (int i = laterals.Length - 1; i > 0; i--)
            laterals[i - 1] = g.Add(laterals[i - 1], Nearest(g, laterals[i], laterals[i - 1][2], laterals[i - 1][3]));
        var outs = laterals.Select((l, i) => OnnxSegmentationEmitter.ConvModule(ctx, $"{path}.fpn_convs.{i}", l)).ToList();
        outs.Add(g.Pool("MaxPool", outs[^1], [1, 1], [2, 2], [0, 0, 0, 0]));
        return outs;
    }

    /// <summary>
    /// PyTorch's <c>interpolate(size=…, mode='nearest')</c>: source index ⌊dst · in/out⌋ — ONNX Resize with
    /// <c>asymmetric</c> coordinates and <c>floor</c> rounding (identical for the FPN's exact 2× steps).
    /// </summary>
    static OnnxValue Nearest(OnnxGraph g, OnnxValue x, long height, long width)
    {
        if (x[2] == height && x[3] == width) return x;
        var sizes = g.Node("Concat", [g.Node("Shape", [x.Name], [2], [OnnxGraph.Attr("start", 0L), OnnxGraph.Attr("end", 2L)]).Name, g.Ints(height, width)],
            [4], [OnnxGraph.Attr("axis", 0L)]);
        return g.Node("Resize", [x.Name, "", "", sizes.Name], [x[0], x[1], height, width],
            [OnnxGraph.Attr("mode", "nearest"), OnnxGraph.Attr("coordinate_transformation_mode", "asymmetric"), OnnxGraph.Attr("nearest_mode", "floor")]);
    }

    /// <summary>
    /// <see cref="RpnHead.Proposals"/> for one image of <paramref name="h"/>×<paramref name="w"/>: (R, 4) boxes by decreasing score.
    /// </summary>
    static OnnxValue Proposals(OnnxEmitContext ctx, MaskRcnn model, IReadOnlyList<OnnxValue> feats, long h, long w)
    {
        var g = ctx.Graph;
        var cfg = model.Config;
        var rpn = model.Rpn;
        var boxes = new List<OnnxValue>();
        var scores = new List<OnnxValue>();
        var levelIds = new List<long>();
        for (int l = 0; l < feats.Count; l++)
        {
            var t = g.Unary("Relu", OnnxLayerEmitters.Conv(ctx, "rpn_head.rpn_conv", feats[l]));
            var cls = OnnxLayerEmitters.Conv(ctx, "rpn_head.rpn_cls", t);                                  // (1, A, H, W)
            var reg = OnnxLayerEmitters.Conv(ctx, "rpn_head.rpn_reg", t);                                  // (1, 4A, H, W)
            long fh = feats[l][2], fw = feats[l][3], n = fh * fw * cls[1];
            // RpnHead.Forward's order: cells row by row, anchors within a cell (permute to NHWC, flatten).
            var s = g.Unary("Sigmoid", Reshape(g, g.Transpose(cls, 0, 2, 3, 1), n));
            var d = Reshape(g, g.Transpose(reg, 0, 2, 3, 1), n, 4);
            using var anchorTensor = rpn.LevelAnchors(l, fh, fw, TorchSharp.torch.ScalarType.Float32).clone();
            var a = g.Weight(anchorTensor, $"rpn_head.anchors.{l}");
            if (n > cfg.RpnPreNmsTest)
            {
                var (vals, idx) = TopK(g, s, g.Ints(cfg.RpnPreNmsTest), cfg.RpnPreNmsTest);
                s = vals;
                d = Gather(g, d, idx);
                a = Gather(g, a, idx);
                n = cfg.RpnPreNmsTest;
            }
            boxes.Add(Decode(g, a, d, rpn.Coder, h, w));
            scores.Add(s);
            levelIds.AddRange(Enumerable.Repeat((long)l, (int)n));
        }
        var bx = g.Concat(0, [.. boxes]);
        var sc = g.Concat(0, [.. scores]);
        var lv = new OnnxValue(g.Ints([.. levelIds]), [levelIds.Count]);
        // Boxes with a zero side after clipping are dropped (w > 0 and h > 0).
        var wh = g.Sub(g.Slice(bx, 1, 2, 4), g.Slice(bx, 1, 0, 2));
        var positive = g.Node("Greater", [wh.Name, g.Scalar(0f).Name], wh.Shape);
        var both = g.Node("And", [g.Slice(positive, 1, 0, 1).Name, g.Slice(positive, 1, 1, 2).Name], [wh[0], 1]);
        var valid = Reshape(g, g.Node("NonZero", [Reshape(g, both, wh[0]).Name], [1, -1]), -1);
        var vb = Gather(g, bx, valid);
        var vs = Gather(g, sc, valid);
        var vl = Gather(g, lv, valid);
        var keep = GroupedNms(g, vb, vs, vl, feats.Count, cfg.RpnNmsIou, cfg.RpnProposalsTest);
        return Gather(g, vb, keep);
    }

    /// <summary>
    /// Greedy NMS within each group (<see cref="Nms.Batched"/>: IoU &gt; threshold suppresses, by decreasing score), then
    /// the best <paramref name="maxKept"/> over all groups by score: indices into the (N) inputs, by decreasing score.
    /// </summary>
    static OnnxValue GroupedNms(OnnxGraph g, OnnxValue boxes, OnnxValue scores, OnnxValue groups, long groupCount, double iou, int maxKept)
    {
        var range = g.Node("Unsqueeze", [g.Ints([.. Enumerable.Range(0, (int)groupCount).Select(i => (long)i)]), g.Ints(1)], [groupCount, 1]);
        var member = g.Node("Equal", [g.Unsqueeze(groups, 0).Name, range.Name], [groupCount, -1]);
        var grouped = g.Node("Where", [member.Name, scores.Name, g.Scalar(-1f).Name], [groupCount, -1]);
        // A group never keeps more than maxKept boxes that survive the final cut, so that is its bound.
        var selected = g.Node("NonMaxSuppression", [g.Unsqueeze(boxes, 0).Name, g.Unsqueeze(grouped, 0).Name, g.Ints(maxKept),
            g.FloatTensor([(float)iou], [1], "nms_iou").Name, g.Scalar(-0.5f).Name], [-1, 3]);
        var kept = g.Node("Gather", [selected.Name, g.IntScalar(2)], [-1], [OnnxGraph.Attr("axis", 1L)]);
        var keptScores = Gather(g, scores, kept);
        var count = g.Node("Min", [g.Node("Shape", [keptScores.Name], [1]).Name, g.Ints(maxKept)], [1]);
        var (_, order) = TopK(g, keptScores, count.Name, -1);
        return Gather(g, kept, order);
    }

    /// <summary>
    /// <see cref="MultiLevelRoiAlign"/>: level ⌊log2(√(w·h) / finest + 1e-6)⌋ clamped to the levels, RoIAlign (avg,
    /// adaptive sampling, half_pixel = aligned) of every box on every level, each box's own level kept with <c>Where</c>.
    /// </summary>
    static OnnxValue MultiLevelRoiAlign(OnnxGraph g, IReadOnlyList<OnnxValue> levels, IReadOnlyList<int> strides, OnnxValue boxes, int size, double finestScale)
    {
        var bw = g.Sub(g.Slice(boxes, 1, 2, 3), g.Slice(boxes, 1, 0, 1));
        var bh = g.Sub(g.Slice(boxes, 1, 3, 4), g.Slice(boxes, 1, 1, 2));
        var scale = g.Unary("Sqrt", g.Mul(bw, bh));
        var log2 = g.Div(g.Unary("Log", g.Add(g.Div(scale, g.Scalar((float)finestScale)), g.Scalar(1e-6f))), g.Scalar(MathF.Log(2f)));
        var clipped = g.Node("Clip", [g.Unary("Floor", log2).Name, g.Scalar(0f).Name, g.Scalar(levels.Count - 1).Name], log2.Shape);
        var level = Reshape(g, g.Node("Cast", [clipped.Name], clipped.Shape, [OnnxGraph.Attr("to", Int64)]), -1);
        var batchIndex = g.Sub(level, level);                                                                 // zeros: one image
        var level4 = Reshape(g, level, -1, 1, 1, 1);
        OnnxValue? result = null;
        long c = levels[0][1];
        for (int l = 0; l < levels.Count; l++)
        {
            var o = g.Node("RoiAlign", [levels[l].Name, boxes.Name, batchIndex.Name], [-1, c, size, size],
            [
                OnnxGraph.Attr("mode", "avg"), OnnxGraph.Attr("output_height", (long)size), OnnxGraph.Attr("output_width", (long)size),
                OnnxGraph.Attr("sampling_ratio", 0L), OnnxGraph.Attr("spatial_scale", (float)(1.0 / strides[l])),
                OnnxGraph.Attr("coordinate_transformation_mode", "half_pixel"),
            ]);
            result = result is null ? o
                : g.Node("Where", [g.Node("Equal", [level4.Name, g.Ints(l)], level4.Shape).Name, o.Name, result.Name], o.Shape);
        }
        return result!;
    }

    /// <summary>
    /// <see cref="DeltaXywhCoder.Decode"/> with clipping to the image: rois (N, 4) and deltas (N, 4) or (N, K, 4), the same
    /// operations in the same order (stds and means, centre/size, clamped log-size deltas, exp), so the rounding matches.
    /// </summary>
    static OnnxValue Decode(OnnxGraph g, OnnxValue rois, OnnxValue deltas, DeltaXywhCoder coder, long h, long w)
    {
        var d = deltas;
        if (coder.Stds.Any(v => v != 1)) d = g.Mul(d, g.FloatTensor(coder.Stds.Select(v => (float)v).ToArray(), [4], "coder_stds"));
        if (coder.Means.Any(v => v != 0)) d = g.Add(d, g.FloatTensor(coder.Means.Select(v => (float)v).ToArray(), [4], "coder_means"));
        var r = deltas.Rank == 3 ? g.Unsqueeze(rois, 1) : rois;
        int last = r.Rank - 1;
        var r1 = g.Slice(r, last, 0, 2);
        var r2 = g.Slice(r, last, 2, 4);
        var pxy = g.Mul(g.Add(r1, r2), g.Scalar(0.5f));
        var pwh = g.Sub(r2, r1);
        float maxRatio = (float)Math.Abs(Math.Log(coder.WhRatioClip));
        var dxy = g.Slice(d, last, 0, 2);
        var dwhRaw = g.Slice(d, last, 2, 4);
        var dwh = g.Node("Clip", [dwhRaw.Name, g.Scalar(-maxRatio).Name, g.Scalar(maxRatio).Name], dwhRaw.Shape);
        var gxy = g.Add(pxy, g.Mul(pwh, dxy));
        var half = g.Mul(g.Mul(pwh, g.Unary("Exp", dwh)), g.Scalar(0.5f));
        var boxes = g.Concat(last, g.Sub(gxy, half), g.Add(gxy, half));
        // BoxOps.Clip: x in [0, W], y in [0, H].
        var lo = g.Node("Max", [boxes.Name, g.Scalar(0f).Name], boxes.Shape);
        return g.Node("Min", [lo.Name, g.FloatTensor([w, h, w, h], [4], "image_bounds").Name], boxes.Shape);
    }

    /// <summary>Top-k of a 1-D value (largest, sorted): values and int64 indices; <paramref name="k"/> a 1-element int64 value.</summary>
    static (OnnxValue Values, OnnxValue Indices) TopK(OnnxGraph g, OnnxValue x, string k, long staticK)
    {
        var outs = g.NodeMulti("TopK", [x.Name, k], [[staticK], [staticK]], [OnnxGraph.Attr("axis", 0L), OnnxGraph.Attr("largest", 1L), OnnxGraph.Attr("sorted", 1L)]);
        return (outs[0], outs[1]);
    }

    /// <summary>Rows of <paramref name="x"/> at the int64 <paramref name="index"/> (N).</summary>
    static OnnxValue Gather(OnnxGraph g, OnnxValue x, OnnxValue index) =>
        g.Node("Gather", [x.Name, index.Name], [index[0], .. x.Shape[1..]], [OnnxGraph.Attr("axis", 0L)]);

    /// <summary>A Reshape whose target may name −1 for a data-dependent count (the graph's shape check assumes a batch axis).</summary>
    static OnnxValue Reshape(OnnxGraph g, OnnxValue x, params long[] shape) => g.Node("Reshape", [x.Name, g.Ints(shape)], shape);

    /// <summary>Marks the graph output <paramref name="name"/> as int64 (the graph builder declares float32).</summary>
    internal static void DeclareInt64(OnnxGraph g, string name)
    {
        foreach (var o in g.Proto.Output)
            if (o.Name == name) o.Type.TensorType.ElemType = (int)Int64;
    }
}
