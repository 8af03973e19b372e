using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Detection.Boxes;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// The region proposal network (Ren et al., Faster R-CNN §3.1) as mmdetection's <c>RPNHead</c>
/// (<c>mmdet/models/dense_heads/rpn_head.py</c> on <c>AnchorHead</c>): on every FPN level a shared 3×3
/// <c>rpn_conv</c> + ReLU, then a 1×1 <c>rpn_cls</c> (one sigmoid logit per anchor) and a 1×1 <c>rpn_reg</c> (4 deltas
/// per anchor). Init: normal(0, 0.01), bias 0. Training targets come from <see cref="MaxIouAssigner"/> +
/// <see cref="RandomSampler"/> on the valid anchors; losses are BCE-with-logits on the sampled anchors and L1 on the
/// positives' deltas (target stds 1), both divided by the number of sampled anchors in the batch (mmdet's
/// <c>avg_factor</c>). Proposals: per level the top-k anchors by score, decoded and clipped to the image, NMS within
/// each level (mmdet's <c>batched_nms</c> with level ids), then the best N overall.
/// </summary>
public sealed class RpnHead : Module
{
    private readonly Conv2d rpn_conv;
    private readonly Conv2d rpn_cls;
    private readonly Conv2d rpn_reg;
    readonly Dictionary<(int, long, long, ScalarType), Tensor> anchorCache = new();
    const int MaxCachedAnchorSets = 40;

    public AnchorGenerator Anchors { get; }
    public DeltaXywhCoder Coder { get; } = DeltaXywhCoder.Rpn;
    public MaxIouAssigner Assigner { get; }
    public RandomSampler Sampler { get; set; }
    public int InChannels { get; }
    public int FeatChannels { get; }

    public RpnHead(int inChannels, int featChannels, AnchorGenerator anchors, MaxIouAssigner assigner, RandomSampler sampler) : base(nameof(RpnHead))
    {
        Anchors = anchors; Assigner = assigner; Sampler = sampler; InChannels = inChannels; FeatChannels = featChannels;
        int a = anchors.AnchorsPerCell;
        rpn_conv = Conv2d(inChannels, featChannels, 3, padding: 1);
        rpn_cls = Conv2d(featChannels, a, 1);
        rpn_reg = Conv2d(featChannels, 4 * a, 1);
        RegisterComponents();
        using var _ = no_grad();
        foreach (var c in new[] { rpn_conv, rpn_cls, rpn_reg })
        {
            init.normal_(c.weight!, 0, 0.01);
            c.bias!.zero_();
        }
    }

    /// <summary>Closed form: 9·C·F + F (conv) + (F + 1)·A (cls) + (F + 1)·4A (reg).</summary>
    public static long ParameterCount(long inChannels, long featChannels, long anchorsPerCell) =>
        9 * inChannels * featChannels + featChannels + (featChannels + 1) * anchorsPerCell + (featChannels + 1) * 4 * anchorsPerCell;

    /// <summary>Per level: logits (B, H·W·A) and deltas (B, H·W·A, 4), in the anchor order of <see cref="AnchorGenerator"/>.</summary>
    public (Tensor Logits, Tensor Deltas)[] Forward(IReadOnlyList<Tensor> levels)
    {
        if (levels.Count != Anchors.Strides.Count)
            throw new ArgumentException($"the RPN has {Anchors.Strides.Count} anchor levels; got {levels.Count} feature maps.", nameof(levels));
        var result = new (Tensor, Tensor)[levels.Count];
        for (int l = 0; l < levels.Count; l++)
        {
            using var scope = NewDisposeScope();
            var x = functional.relu(rpn_conv.call(levels[l]));
            long b = x.shape[0];
            var cls = VisionSsm.Ops.OneDnnPointwiseGuard.Call(rpn_cls, x).permute(0, 2, 3, 1).reshape(b, -1);
            var reg = VisionSsm.Ops.OneDnnPointwiseGuard.Call(rpn_reg, x).permute(0, 2, 3, 1).reshape(b, -1, 4);
            result[l] = (cls.MoveToOuterDisposeScope(), reg.MoveToOuterDisposeScope());
        }
        return result;
    }

    /// <summary>Anchors (H·W·A, 4) of level <paramref name="level"/> for a map of the given size (cached).</summary>
    public Tensor LevelAnchors(int level, long height, long width, ScalarType dtype)
    {
        var key = (level, height, width, dtype);
        if (!anchorCache.TryGetValue(key, out var t))
        {
            t = Anchors.GridAnchors(level, (int)height, (int)width, dtype).DetachFromDisposeScope();
            anchorCache[key] = t;
        }
        return t;
    }

    /// <summary>
    /// Empties the anchor cache when it holds many sizes (multi-scale training; a 1333×800 level 0 is 4 MB). Called at
    /// the start of <see cref="Loss"/> and <see cref="Proposals"/>, never while their anchors are in use.
    /// </summary>
    void TrimAnchorCache()
    {
        if (anchorCache.Count < MaxCachedAnchorSets) return;
        foreach (var old in anchorCache.Values) old.Dispose();
        anchorCache.Clear();
    }

    /// <summary><c>loss_rpn_cls</c> and <c>loss_rpn_bbox</c> of a batch.</summary>
    public (Tensor Cls, Tensor Box) Loss((Tensor Logits, Tensor Deltas)[] outputs, IReadOnlyList<(long H, long W)> sizes,
        IReadOnlyList<ImageMeta> metas, IReadOnlyList<DetectionTarget> targets)
    {
        TrimAnchorCache();
        using var scope = NewDisposeScope();
        var logits = cat(outputs.Select(o => o.Logits).ToArray(), 1);            // (B, N)
        var deltas = cat(outputs.Select(o => o.Deltas).ToArray(), 1);            // (B, N, 4)
        var dtype = logits.dtype;
        var anchors = cat(sizes.Select((s, l) => LevelAnchors(l, s.H, s.W, dtype)).ToArray(), 0).to(logits.device);
        var clsTerms = new List<Tensor>();
        var boxTerms = new List<Tensor>();
        long sampled = 0;
        for (int b = 0; b < metas.Count; b++)
        {
            var valid = ValidAnchors(sizes, metas[b]);
            var validIdx = Enumerable.Range(0, valid.Length).Where(i => valid[i]).Select(i => (long)i).ToArray();
            var vIdx = tensor(validIdx, device: logits.device);
            var gts = targets[b].Boxes.to(dtype).to(logits.device);
            var assigned = Assigner.Assign(anchors.index_select(0, vIdx), gts, targets[b].IgnoredBoxes?.to(dtype));
            var (pos, neg) = Sampler.Sample(assigned);
            sampled += pos.Length + neg.Length;
            var posG = tensor(pos.Select(i => validIdx[i]).ToArray(), device: logits.device);
            var negG = tensor(neg.Select(i => validIdx[i]).ToArray(), device: logits.device);
            var all = cat([posG, negG], 0);
            var target = cat([ones(pos.Length, dtype: dtype, device: logits.device), zeros(neg.Length, dtype: dtype, device: logits.device)], 0);
            clsTerms.Add(functional.binary_cross_entropy_with_logits(logits[b].index_select(0, all), target, reduction: Reduction.Sum));
            if (pos.Length > 0)
            {
                var gtIdx = tensor(pos.Select(i => assigned[i] - 1).ToArray(), device: logits.device);
                var regTarget = Coder.Encode(anchors.index_select(0, posG), gts.index_select(0, gtIdx));
                boxTerms.Add(functional.l1_loss(deltas[b].index_select(0, posG), regTarget, Reduction.Sum));
            }
        }
        double avg = Math.Max(1, sampled);
        var cls = stack(clsTerms.ToArray()).sum().Over(avg);
        var box = boxTerms.Count > 0 ? stack(boxTerms.ToArray()).sum().Over(avg) : deltas.sum().Times(0);
        return (cls.MoveToOuterDisposeScope(), box.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Valid flags of all levels for one image: anchors whose cell lies in the image padded to 32
    /// (mmdet's <c>valid_flags</c> on <c>pad_shape</c>; <c>allowed_border = −1</c> keeps anchors crossing the border).
    /// </summary>
    bool[] ValidAnchors(IReadOnlyList<(long H, long W)> sizes, ImageMeta meta)
    {
        int ph = (meta.Height + 31) / 32 * 32, pw = (meta.Width + 31) / 32 * 32;
        var flags = new List<bool>();
        for (int l = 0; l < sizes.Count; l++)
        {
            using var f = Anchors.ValidFlags(l, (int)sizes[l].H, (int)sizes[l].W, ph, pw);
            flags.AddRange(f.data<bool>().ToArray());
        }
        return flags.ToArray();
    }

    /// <summary>
    /// Proposals (k ≤ <paramref name="maxProposals"/>, 4) of each image, detached, in the batch image's pixels, by
    /// decreasing score: per level the <paramref name="preNms"/> best anchors by sigmoid score, decoded and clipped to the
    /// image's valid region, boxes with a zero side dropped, NMS at <paramref name="nmsIou"/> within each level, the best
    /// <paramref name="maxProposals"/> kept. Also returns the scores.
    /// </summary>
    public List<(Tensor Boxes, Tensor Scores)> Proposals((Tensor Logits, Tensor Deltas)[] outputs, IReadOnlyList<(long H, long W)> sizes,
        IReadOnlyList<ImageMeta> metas, int preNms, double nmsIou, int maxProposals)
    {
        TrimAnchorCache();
        var result = new List<(Tensor, Tensor)>();
        using var noGrad = no_grad();
        for (int b = 0; b < metas.Count; b++)
        {
            using var scope = NewDisposeScope();
            var boxes = new List<Tensor>();
            var scores = new List<Tensor>();
            var levelIds = new List<Tensor>();
            for (int l = 0; l < outputs.Length; l++)
            {
                var s = outputs[l].Logits[b].detach().sigmoid();
                var d = outputs[l].Deltas[b].detach();
                var a = LevelAnchors(l, sizes[l].H, sizes[l].W, s.dtype).to(s.device);
                if (s.shape[0] > preNms)
                {
                    var (vals, idx) = s.sort(0, descending: true);
                    idx = idx.narrow(0, 0, preNms);
                    s = vals.narrow(0, 0, preNms);
                    d = d.index_select(0, idx);
                    a = a.index_select(0, idx);
                }
                boxes.Add(Coder.Decode(a, d, metas[b].Height, metas[b].Width));
                scores.Add(s);
                levelIds.Add(tensor(Enumerable.Repeat((long)l, (int)s.shape[0]).ToArray()));
            }
            var bx = cat(boxes.ToArray(), 0);
            var sc = cat(scores.ToArray(), 0);
            var lv = cat(levelIds.ToArray(), 0);
            var wh = bx[.., 2..] - bx[.., ..2];
            var keepValid = (wh[.., 0].gt(Scalars.Zero)).logical_and(wh[.., 1].gt(Scalars.Zero)).nonzero().squeeze(1);
            bx = bx.index_select(0, keepValid); sc = sc.index_select(0, keepValid); lv = lv.index_select(0, keepValid.cpu());
            var keep = Nms.Batched(bx, sc, lv, nmsIou);
            if (keep.shape[0] > maxProposals) keep = keep.narrow(0, 0, maxProposals);
            keep = keep.to(bx.device);
            result.Add((bx.index_select(0, keep).MoveToOuterDisposeScope(), sc.index_select(0, keep).MoveToOuterDisposeScope()));
        }
        return result;
    }
}
