using TorchSharp;
using VisionSsm.Detection.Boxes;
using VisionSsm.Detection.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// mmdetection's <c>StandardRoIHead</c> (<c>mmdet/models/roi_heads/standard_roi_head.py</c>) with a box and a mask branch:
/// RoIAlign of proposals from the FPN levels (box 7×7, mask 14×14, level by size: <see cref="MultiLevelRoiAlign"/>), the
/// <c>bbox_head</c> (<see cref="Shared2FcBoxHead"/>) and the <c>mask_head</c> (<see cref="FcnMaskHead"/>).
/// Training (<see cref="Loss"/>): gts are prepended to each image's proposals, <see cref="MaxIouAssigner"/> (0.5/0.5/0.5)
/// and <see cref="RandomSampler"/> (512 at 0.25) pick RoIs; <c>loss_cls</c> is softmax cross-entropy over the sampled
/// RoIs (background = class K), <c>loss_bbox</c> L1 on the positives' class-specific deltas (target stds 0.1/0.1/0.2/0.2)
/// divided by the number of sampled RoIs, <c>loss_mask</c> BCE-with-logits of each positive's class channel against its
/// gt mask resampled to 28×28 by RoIAlign (threshold 0.5), averaged over pixels (mmdet's <c>mask_target</c>).
/// Inference (<see cref="Predict"/>): softmax scores, per-class boxes decoded and clipped, mapped to the original image,
/// scores &gt; threshold, class-wise NMS, the best N; masks of the kept boxes pasted at the original size (<see cref="MaskPaste"/>).
/// </summary>
public sealed class RoiHeads : Module
{
    private readonly Shared2FcBoxHead bbox_head;
    private readonly FcnMaskHead? mask_head;

    public MultiLevelRoiAlign BoxRoiAlign { get; }
    public MultiLevelRoiAlign MaskRoiAlign { get; }
    public DeltaXywhCoder Coder { get; } = DeltaXywhCoder.Rcnn;
    public MaxIouAssigner Assigner { get; }
    public RandomSampler Sampler { get; set; }
    public MaskRcnnConfig Config { get; }
    public int NumClasses { get; }
    public Shared2FcBoxHead BoxHead => bbox_head;
    public FcnMaskHead? MaskHead => mask_head;

    public RoiHeads(MaskRcnnConfig config, IReadOnlyList<int> strides, int numClasses) : base(nameof(RoiHeads))
    {
        Config = config;
        NumClasses = numClasses;
        BoxRoiAlign = new MultiLevelRoiAlign(config.BoxRoiSize, strides, 0, true, config.FinestScale);
        MaskRoiAlign = new MultiLevelRoiAlign(config.MaskRoiSize, strides, 0, true, config.FinestScale);
        Assigner = new MaxIouAssigner(config.RoiPositiveIou, config.RoiNegativeIou, config.RoiMinPositiveIou);
        Sampler = new RandomSampler(config.RoiSamples, config.RoiPositiveFraction);
        bbox_head = new Shared2FcBoxHead(config.FpnChannels, config.BoxRoiSize, config.BoxFcChannels, numClasses);
        if (config.WithMask) mask_head = new FcnMaskHead(config.FpnChannels, config.MaskChannels, config.MaskConvs, numClasses);
        RegisterComponents();
    }

    /// <summary>(R, 5) rois <c>(batch index, x1, y1, x2, y2)</c> from per-image boxes.</summary>
    public static Tensor ToRois(IReadOnlyList<Tensor> boxes)
    {
        using var scope = NewDisposeScope();
        var parts = boxes.Select((b, i) => cat([full_like(b[.., ..1], Scalars.Zero).PlusScalarInPlace(i), b], 1)).ToArray();
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary><c>loss_cls</c>, <c>loss_bbox</c> and (with masks) <c>loss_mask</c> of a batch.</summary>
    public Dictionary<string, Tensor> Loss(IReadOnlyList<Tensor> levels, IReadOnlyList<Tensor> proposals, IReadOnlyList<DetectionTarget> targets)
    {
        using var scope = NewDisposeScope();
        var dtype = levels[0].dtype;
        var device = levels[0].device;
        var roiBoxes = new List<Tensor>();
        var labels = new List<long>();
        var regTargets = new List<Tensor>();
        var posRois = new List<Tensor>();
        var posLabels = new List<long>();
        var maskTargets = new List<Tensor>();
        int numPos = 0;
        for (int b = 0; b < proposals.Count; b++)
        {
            var gts = targets[b].Boxes.to(dtype).to(device);
            var gtLabels = HostArrays.Longs(targets[b].Labels);
            var props = proposals[b].detach().to(dtype);
            var assigned = Assigner.Assign(props, gts, targets[b].IgnoredBoxes?.to(dtype));
            // mmdet's add_gt_as_proposals: gts go first, each assigned to itself.
            int k = (int)gts.shape[0];
            var all = cat([gts, props], 0);
            var fullAssigned = Enumerable.Range(1, k).Select(i => (long)i).Concat(assigned).ToArray();
            var (pos, neg) = Sampler.Sample(fullAssigned);
            var sel = tensor(pos.Concat(neg).ToArray(), device: device);
            var boxes = all.index_select(0, sel);
            roiBoxes.Add(boxes);
            foreach (var p in pos) labels.Add(gtLabels[fullAssigned[p] - 1]);
            foreach (var _ in neg) labels.Add(NumClasses);
            if (pos.Length > 0)
            {
                var posBoxes = boxes.narrow(0, 0, pos.Length);
                var gtIdx = pos.Select(p => fullAssigned[p] - 1).ToArray();
                var gtIdxT = tensor(gtIdx, device: device);
                regTargets.Add(Coder.Encode(posBoxes, gts.index_select(0, gtIdxT)));
                posRois.Add(cat([full_like(posBoxes[.., ..1], Scalars.Zero).PlusScalarInPlace(b), posBoxes], 1));
                posLabels.AddRange(gtIdx.Select(g => gtLabels[g]));
                if (mask_head is not null)
                {
                    if (targets[b].Masks is not { } masks)
                        throw new ArgumentException($"image {b} has no gt masks; the mask branch needs DetectionTarget.Masks.", nameof(targets));
                    maskTargets.Add(MaskTargets(masks, posBoxes, gtIdx, dtype, device));
                }
                numPos += pos.Length;
            }
        }
        var rois = ToRois(roiBoxes);
        var (cls, reg) = bbox_head.call(BoxRoiAlign.Apply(levels, rois));
        var labelT = tensor(labels.ToArray(), device: device);
        var losses = new Dictionary<string, Tensor>
        {
            // mmdet's avg_factor for loss_cls: the number of RoIs with weight > 0 (all sampled), at least 1.
            ["loss_cls"] = labels.Count > 0 ? functional.cross_entropy(cls, labelT, reduction: Reduction.Sum).Over(labels.Count) : cls.sum().Times(0),
        };
        if (numPos > 0)
        {
            // Positives come first in every image's sample; pick their rows and the deltas of their class.
            var posRows = new List<long>();
            long offset = 0;
            foreach (var rb in roiBoxes)
            {
                posRows.AddRange(Enumerable.Range(0, (int)rb.shape[0]).Select(i => offset + i).Where(r => labels[(int)r] < NumClasses));
                offset += rb.shape[0];
            }
            var rows = tensor(posRows.ToArray(), device: device);
            var cols = tensor(posRows.Select(r => labels[(int)r]).ToArray(), device: device);
            var pred = reg.view(reg.shape[0], NumClasses, 4).index_select(0, rows);
            pred = pred.gather(1, cols.view(-1, 1, 1).expand(-1, 1, 4)).squeeze(1);
            losses["loss_bbox"] = functional.l1_loss(pred, cat(regTargets.ToArray(), 0), Reduction.Sum).Over(Math.Max(1, labels.Count));
        }
        else losses["loss_bbox"] = reg.sum().Times(0);
        if (mask_head is not null)
        {
            if (numPos > 0)
            {
                var mroi = cat(posRois.ToArray(), 0);
                var logits = mask_head.call(MaskRoiAlign.Apply(levels, mroi));
                var lab = tensor(posLabels.ToArray(), device: device);
                var chosen = PickClass(logits, lab);
                losses["loss_mask"] = functional.binary_cross_entropy_with_logits(chosen, cat(maskTargets.ToArray(), 0));
            }
            else
            {
                // No positives: a zero that still touches the mask head's parameters (mmdet: mask_pred.sum() * 0).
                using var probe = zeros(1, levels[0].shape[1], Config.MaskRoiSize, Config.MaskRoiSize, dtype: dtype, device: device);
                losses["loss_mask"] = mask_head.call(probe).sum().Times(0);
            }
        }
        foreach (var v in losses.Values) v.MoveToOuterDisposeScope();
        return losses;
    }

    /// <summary>
    /// mmdet's <c>mask_target</c>: the gt mask of each positive RoIAligned (scale 1, adaptive sampling, aligned) to
    /// 28×28 over the RoI, then thresholded at 0.5 (BitmapMasks.crop_and_resize).
    /// </summary>
    Tensor MaskTargets(Tensor masks, Tensor posBoxes, long[] gtIdx, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var m = masks.to(dtype).to(device).unsqueeze(1);
        var rois = cat([tensor(gtIdx, device: device).to(dtype).unsqueeze(1), posBoxes.detach()], 1);
        var t = RoiAlign.Apply(m, rois, Config.MaskSize, Config.MaskSize, 1.0, 0, true).squeeze(1);
        using var half = 0.5.ToScalar();
        return t.ge(half).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Post-processed detections of each image (see the class summary).</summary>
    public List<Detections> Predict(IReadOnlyList<Tensor> levels, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImageMeta> metas)
    {
        using var noGrad = no_grad();
        var result = new List<Detections>();
        var device = levels[0].device;
        var rois = ToRois(proposals);
        var (clsAll, regAll) = bbox_head.call(BoxRoiAlign.Apply(levels, rois));
        long offset = 0;
        for (int b = 0; b < metas.Count; b++)
        {
            using var scope = NewDisposeScope();
            var meta = metas[b];
            long r = proposals[b].shape[0];
            var cls = clsAll.narrow(0, offset, r);
            var reg = regAll.narrow(0, offset, r);
            offset += r;
            var scores = functional.softmax(cls, 1);
            var boxes = Coder.Decode(proposals[b], reg, meta.Height, meta.Width).view(r, NumClasses, 4);
            // Back to the original image (mmdet rescale: divide x by the x scale, y by the y scale).
            var scale = tensor(new[] { meta.ScaleX, meta.ScaleY, meta.ScaleX, meta.ScaleY }, dtype: boxes.dtype, device: device);
            boxes = BoxOps.Clip((boxes / scale).reshape(-1, 4), meta.OriginalHeight, meta.OriginalWidth);
            var fg = scores.narrow(1, 0, NumClasses).reshape(-1);
            using var thr = Config.ScoreThreshold.ToScalar();
            var cand = fg.gt(thr).nonzero().squeeze(1);
            var cb = boxes.index_select(0, cand);
            var cs = fg.index_select(0, cand);
            var cl = cand.remainder(NumClasses);
            var keep = Nms.Batched(cb, cs, cl.cpu(), Config.NmsIou).to(device);
            if (keep.shape[0] > Config.MaxDetections) keep = keep.narrow(0, 0, Config.MaxDetections);
            var db = cb.index_select(0, keep);
            var ds = cs.index_select(0, keep);
            var dl = cl.index_select(0, keep);
            Tensor? dm = null;
            if (mask_head is not null)
            {
                if (db.shape[0] == 0) dm = zeros(new long[] { 0, meta.OriginalHeight, meta.OriginalWidth }, dtype: ScalarType.Bool, device: device);
                else
                {
                    var probs = MaskProbabilities(levels, db * scale, dl, b);   // mask RoIs in the batch image's frame
                    dm = MaskPaste.Paste(probs, db, meta.OriginalHeight, meta.OriginalWidth, Config.MaskThreshold);
                }
                dm.MoveToOuterDisposeScope();
            }
            result.Add(new Detections(db.MoveToOuterDisposeScope(), ds.MoveToOuterDisposeScope(), dl.to(ScalarType.Int64).MoveToOuterDisposeScope(), dm));
        }
        clsAll.Dispose(); regAll.Dispose(); rois.Dispose();
        return result;
    }

    /// <summary>
    /// The mask head's probabilities (D, M, M) for <paramref name="boxes"/> (D, 4) of image <paramref name="batchIndex"/>
    /// (in the batch image's pixels): RoIAlign of each box from its level, the mask head, the channel of its label, sigmoid.
    /// These are what <see cref="Predict"/> pastes; the ONNX export outputs them unpasted.
    /// </summary>
    public Tensor MaskProbabilities(IReadOnlyList<Tensor> levels, Tensor boxes, Tensor labels, int batchIndex)
    {
        using var logits = MaskLogits(levels, boxes, labels, batchIndex);
        return logits.sigmoid();
    }

    /// <summary>The logits behind <see cref="MaskProbabilities"/> (D, M, M): each box's class channel of the mask head.</summary>
    public Tensor MaskLogits(IReadOnlyList<Tensor> levels, Tensor boxes, Tensor labels, int batchIndex)
    {
        if (mask_head is null) throw new InvalidOperationException("this model has no mask head (MaskRcnnConfig.WithMask is false).");
        using var scope = NewDisposeScope();
        var mroi = cat([full_like(boxes[.., ..1], Scalars.Zero).PlusScalarInPlace(batchIndex), boxes], 1);
        var logits = mask_head.call(MaskRoiAlign.Apply(levels, mroi));
        return PickClass(logits, labels).MoveToOuterDisposeScope();
    }

    /// <summary>The channel <c>labels[i]</c> of each row: (R, K, S, S) → (R, S, S).</summary>
    static Tensor PickClass(Tensor logits, Tensor labels)
    {
        long s1 = logits.shape[2], s2 = logits.shape[3];
        return logits.gather(1, labels.view(-1, 1, 1, 1).expand(-1, 1, s1, s2)).squeeze(1);
    }

    /// <summary>
    /// The inference graph with a fixed number of RoIs, for FLOP counting as mmdet's tensor-mode forward: the box head on
    /// all <paramref name="rois"/>, the mask head on the first 100 of them.
    /// </summary>
    public Tensor ForwardForFlops(IReadOnlyList<Tensor> levels, Tensor rois)
    {
        var (cls, _) = bbox_head.call(BoxRoiAlign.Apply(levels, rois));
        if (mask_head is null) return cls;
        var m = mask_head.call(MaskRoiAlign.Apply(levels, rois.narrow(0, 0, Math.Min(100, rois.shape[0]))));
        return cat([cls.flatten(), m.flatten()], 0);
    }
}
