using TorchSharp;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

public class MaskRcnnTests(ITestOutputHelper output)
{
    static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    /// <summary>A very small detector for fast tests: vmamba_nano levels (stride 2–16), 16-wide FPN/heads.</summary>
    internal static MaskRcnnConfig Tiny(string backbone = "vmamba_nano", bool outNorms = true) =>
        DetectionZoo.SmallHead(new MaskRcnnConfig(backbone, [0, 1, 2, 3], OutNorms: outNorms, DropChildren: outNorms ? ["classifier"] : null, DropPathRate: 0)) with
        {
            FpnChannels = 16, RpnChannels = 16, BoxFcChannels = 32, MaskChannels = 16, MaskConvs = 1, RpnSamples = 64, RoiSamples = 64,
            RpnPreNmsTrain = 300, RpnProposalsTrain = 200, RpnPreNmsTest = 300, RpnProposalsTest = 100,
        };

    /// <summary>One 64×64 image with two bright rectangles and their boxes, labels and masks.</summary>
    internal static (Tensor Image, ImageMeta Meta, DetectionTarget Target) Scene(ScalarType dtype = ScalarType.Float64)
    {
        var img = zeros(new long[] { 1, 3, 64, 64 }, dtype: dtype);
        var masks = zeros(new long[] { 2, 64, 64 }, dtype: ScalarType.Byte);
        img[0, .., 8..30, 10..40] = ones(3, 22, 30, dtype: dtype);
        masks[0, 8..30, 10..40] = ones(22, 30, dtype: ScalarType.Byte);
        img[0, 1, 36..60, 30..56] = ones(24, 26, dtype: dtype).neg();
        masks[1, 36..60, 30..56] = ones(24, 26, dtype: ScalarType.Byte);
        var boxes = tensor(new float[] { 10, 8, 40, 30, 30, 36, 56, 60 }, new long[] { 2, 4 });
        var labels = tensor(new long[] { 0, 1 });
        return (img, new ImageMeta(64, 64, 64, 64), new DetectionTarget(boxes, labels, masks));
    }

    [Fact]
    public void Empty_targets_give_finite_losses_and_gradients()
    {
        manual_seed(1);
        using var model = new MaskRcnn(Tiny(), new ModelOptions(NumClasses: 3, Dtype: ScalarType.Float64));
        var (img, meta, _) = Scene();
        var empty = new DetectionTarget(zeros(0, 4), zeros(0, dtype: ScalarType.Int64), zeros(new long[] { 0, 64, 64 }, dtype: ScalarType.Byte));
        var losses = model.Losses(img, [meta], [empty]);
        foreach (var (k, v) in losses) Assert.True(double.IsFinite(v.item<double>()), k);
        // No gts: no positives, so the box losses are exactly 0; the classifiers still learn "background".
        Assert.Equal(0.0, losses["loss_rpn_bbox"].item<double>());
        Assert.Equal(0.0, losses["loss_bbox"].item<double>());
        Assert.Equal(0.0, losses["loss_mask"].item<double>());
        Assert.True(losses["loss_rpn_cls"].item<double>() > 0);
        losses.Values.Aggregate((a, b) => a + b).backward();
    }

    [Fact]
    public void Predict_returns_at_most_100_boxes_inside_the_original_image_with_masks_of_its_size()
    {
        manual_seed(2);
        var cfg = Tiny() with { ScoreThreshold = 0.0 };   // untrained scores are near 1/(K+1): keep them all
        using var model = new MaskRcnn(cfg, new ModelOptions(NumClasses: 2));
        model.eval();
        // Two images padded into one 64×64 batch; originals 90×120 (scaled by 0.5) and 40×50 (scale 1.2).
        var (img, _, _) = Scene(ScalarType.Float32);
        var batch = cat([img, img.flip(3)], 0);
        ImageMeta[] metas = [new(45, 60, 90, 120), new(48, 60, 40, 50)];
        var dets = model.Predict(batch, metas);
        Assert.Equal(2, dets.Count);
        for (int b = 0; b < 2; b++)
        {
            var d = dets[b];
            long k = d.Boxes.shape[0];
            output.WriteLine($"image {b}: {k} detections");
            Assert.InRange(k, 1, 100);
            Assert.Equal(new long[] { k }, d.Scores.shape);
            Assert.Equal(new long[] { k }, d.Labels.shape);
            Assert.Equal(ScalarType.Int64, d.Labels.dtype);
            Assert.Equal(new long[] { k, metas[b].OriginalHeight, metas[b].OriginalWidth }, d.Masks!.shape);
            Assert.Equal(ScalarType.Bool, d.Masks.dtype);
            var bx = d.Boxes.to(ScalarType.Float64).data<double>().ToArray();
            for (int i = 0; i < k; i++)
            {
                Assert.InRange(bx[4 * i], 0, metas[b].OriginalWidth); Assert.InRange(bx[4 * i + 2], 0, metas[b].OriginalWidth);
                Assert.InRange(bx[4 * i + 1], 0, metas[b].OriginalHeight); Assert.InRange(bx[4 * i + 3], 0, metas[b].OriginalHeight);
            }
            var labels = d.Labels.data<long>().ToArray();
            Assert.All(labels, l => Assert.InRange(l, 0, 1));
            var s = d.Scores.data<float>().ToArray();
            for (int i = 1; i < s.Length; i++) Assert.True(s[i] <= s[i - 1], "scores must be sorted");
        }
    }

    [Fact]
    public void State_dict_keys_follow_mmdetection()
    {
        using var model = DetectionZoo.Create("maskrcnn_vmamba_nano", 80);
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (var k in new[]
                 {
                     "backbone.outnorm0.weight", "neck.lateral_convs.0.conv.weight", "neck.lateral_convs.3.conv.bias", "neck.fpn_convs.0.conv.weight",
                     "rpn_head.rpn_conv.weight", "rpn_head.rpn_cls.weight", "rpn_head.rpn_reg.bias", "roi_head.bbox_head.shared_fcs.0.weight",
                     "roi_head.bbox_head.shared_fcs.1.bias", "roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.fc_reg.weight",
                     "roi_head.mask_head.convs.0.conv.weight", "roi_head.mask_head.upsample.weight", "roi_head.mask_head.conv_logits.weight",
                 })
            Assert.Contains(k, keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("backbone.classifier", StringComparison.Ordinal));
        Assert.DoesNotContain("neck.fpn_convs.4.conv.weight", keys);   // the extra level is a max-pool
        Assert.Equal(new long[] { 81, 256 }, model.state_dict()["roi_head.bbox_head.fc_cls.weight"].shape);
        Assert.Equal(new long[] { 320, 256 }, model.state_dict()["roi_head.bbox_head.fc_reg.weight"].shape);
        Assert.Equal(new long[] { 3, 64, 1, 1 }, model.state_dict()["rpn_head.rpn_cls.weight"].shape);
    }
}
