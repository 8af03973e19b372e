using TorchSharp;
using VisionSsm.Analysis;
using VisionSsm.Detection.Models;
using VisionSsm.Models;

namespace VisionSsm.Tests.Detection.Models;

public class DetectionFlopTests
{
    [Fact]
    public void Box_head_FLOPs_are_the_closed_form_at_the_test_proposal_count()
    {
        // resnet_nano has no linear layers once its classifier is gone, so every linear FLOP is the box head's, run on
        // exactly RpnProposalsTest RoIs (the counting forward repeats proposals up to that count):
        // 100 · (16·7²·32 + 32·32 + 32·(3 + 1) + 32·4·3) = 100 · 26 624.
        var cfg = MaskRcnnTests.Tiny("resnet_nano", outNorms: false);
        using var model = new MaskRcnn(cfg, new ModelOptions(NumClasses: 3));
        var report = DetectionFlops.Count(model, 64, 48, FlopConvention.Fvcore);
        Assert.Equal(2_662_400, report.ByCategory["linear"]);
        // The mask head's transposed conv is counted too (fvcore: input elements · Cout · 2·2): 100 RoIs · 14²·16 · 16·4
        // is part of the conv total, which must therefore exceed it.
        Assert.True(report.ByCategory["conv"] > 100L * 14 * 14 * 16 * 16 * 4);
    }
}
