using TorchSharp;
using VisionSsm.Detection.Boxes;
using VisionSsm.Detection.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

public class TargetAssignmentTests
{
    static Tensor Boxes(params double[] v) => tensor(v, new long[] { v.Length / 4, 4 });

    static readonly MaxIouAssigner Rpn = new(0.7, 0.3, 0.3);
    static readonly MaxIouAssigner Rcnn = new(0.5, 0.5, 0.5);

    [Fact]
    public void Rpn_assigner_labels_follow_the_IoU_thresholds()
    {
        var gt = Boxes(0, 0, 10, 10);
        // IoUs with the 10×10 gt: 1, 80/100, 50/100, 20/100, 0 → positive, positive (≥ 0.7), ignored (0.3 ≤ 0.5 < 0.7),
        // negative (< 0.3), negative.
        var boxes = Boxes(0, 0, 10, 10, 0, 0, 10, 8, 0, 0, 10, 5, 0, 0, 10, 2, 20, 20, 30, 30);
        Assert.Equal(new long[] { 1, 1, -1, 0, 0 }, Rpn.Assign(boxes, gt));
    }

    [Fact]
    public void Low_quality_matches_give_each_gt_its_best_boxes()
    {
        var gt = Boxes(0, 0, 10, 10);
        // IoUs 0.6 and 0.4: none reaches 0.7; the gt's best (0.6 ≥ min_pos 0.3) is matched anyway; 0.4 stays ignored.
        var boxes = Boxes(0, 0, 10, 6, 0, 0, 10, 4);
        Assert.Equal(new long[] { 1, -1 }, Rpn.Assign(boxes, gt));
        Assert.Equal(new long[] { -1, -1 }, (Rpn with { MatchLowQuality = false }).Assign(boxes, gt));
        // All boxes tied at the gt's best IoU get it (gt_max_assign_all): two 0.6 boxes.
        var tied = Boxes(0, 0, 10, 6, 0, 4, 10, 10);
        Assert.Equal(new long[] { 1, 1 }, Rpn.Assign(tied, gt));
        // Best IoU below min_pos (0.2 < 0.3): no low-quality match, the box is negative.
        Assert.Equal(new long[] { 0 }, Rpn.Assign(Boxes(0, 0, 10, 2), gt));
    }

    [Fact]
    public void Boxes_take_the_gt_they_overlap_most()
    {
        var gts = Boxes(0, 0, 10, 10, 5, 0, 15, 10);
        // Box 0 = gt 1 (IoU 1 vs 50/150); box 1 = gt 2; box 2 overlaps both at 75/125 = 0.6 → Rcnn: positive for the
        // first gt on the tie (≥ 0.5); box 3 (IoU 0.25 and 0) → negative.
        var boxes = Boxes(0, 0, 10, 10, 5, 0, 15, 10, 2.5, 0, 12.5, 10, 0, 0, 2.5, 10);
        Assert.Equal(new long[] { 1, 2, 1, 0 }, Rcnn.Assign(boxes, gts));
    }

    [Fact]
    public void Rcnn_assigner_threshold_is_inclusive_at_one_half()
    {
        var gt = Boxes(0, 0, 10, 10);
        // IoU exactly 0.5 → positive; 0.49 → negative (neg_iou_thr 0.5 is exclusive, pos_iou_thr inclusive).
        var boxes = Boxes(0, 0, 10, 5, 0, 0, 10, 4.9, 0, 0, 10, 10);
        Assert.Equal(new long[] { 1, 0, 1 }, Rcnn.Assign(boxes, gt));
    }

    [Fact]
    public void No_gts_make_every_box_negative_and_ignored_boxes_are_skipped()
    {
        var boxes = Boxes(0, 0, 10, 10, 20, 20, 30, 30);
        Assert.Equal(new long[] { 0, 0 }, Rpn.Assign(boxes, zeros(0, 4, dtype: ScalarType.Float64)));
        // With an IoF threshold: box 0 lies inside the crowd box (IoF 1 > 0.5) → ignored although its IoU with the gt is low.
        var gt = Boxes(20, 20, 30, 30);
        var crowd = Boxes(0, 0, 12, 12);
        Assert.Equal(new long[] { -1, 1 }, (Rpn with { IgnoreIof = 0.5 }).Assign(boxes, gt, crowd));
        Assert.Equal(new long[] { 0, 1 }, Rpn.Assign(boxes, gt, crowd));   // mmdet's default ignore_iof_thr = −1: crowd unused
    }

    [Fact]
    public void Sampler_draws_at_most_the_positive_fraction_and_fills_with_negatives()
    {
        manual_seed(3);
        var sampler = new RandomSampler(8, 0.25);
        // 5 positives, 10 negatives, 2 ignored: 2 positives (⌊8·0.25⌋), 6 negatives.
        long[] assigned = [1, 1, 2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1];
        var (pos, neg) = sampler.Sample(assigned);
        Assert.Equal(2, pos.Length);
        Assert.Equal(6, neg.Length);
        Assert.All(pos, i => Assert.True(assigned[i] > 0));
        Assert.All(neg, i => Assert.Equal(0, assigned[i]));
        Assert.Equal(pos.Length, pos.Distinct().Count());
        Assert.Equal(neg.Length, neg.Distinct().Count());
        // Few positives: all of them, and negatives fill up to num.
        var (p2, n2) = sampler.Sample([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Equal(new long[] { 0 }, p2);
        Assert.Equal(7, n2.Length);
    }

    [Fact]
    public void An_anchor_equal_to_a_gt_is_a_positive_rpn_target()
    {
        // Level 0 of mmdet's generator at stride 4, scale 8, ratio 1: anchors of 32×32 centred at (4x, 4y).
        var gen = new AnchorGenerator([4], [1.0], [8.0]);
        var anchors = gen.GridAnchors(0, 6, 6, ScalarType.Float64);   // centres 0..20
        var gt = Boxes(-8, -8, 24, 24);                              // the anchor of cell (2, 2)
        var a = Rpn.Assign(anchors, gt);
        Assert.Equal(1, a[2 * 6 + 2]);
        // A neighbour shifted by one stride overlaps 28·32 / (2·1024 − 896) = 0.778 → also positive; two strides: 0.6 → ignored.
        Assert.Equal(1, a[2 * 6 + 3]);
        Assert.Equal(-1, a[2 * 6 + 4]);
        // Far corner (centre 20, 20): overlap 20·20 / (2048 − 400) = 0.243 → negative.
        Assert.Equal(0, a[5 * 6 + 5]);
    }
}
