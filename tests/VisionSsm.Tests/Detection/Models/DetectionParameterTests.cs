using TorchSharp;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

public class DetectionParameterTests(ITestOutputHelper output)
{
    static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void Head_parameter_counts_follow_their_closed_forms()
    {
        // Worked out by hand for the mmdetection setting (FPN 256, 3 anchors, FC 1024, 7×7 RoIs, 80 classes):
        // FPN on (96, 192, 384, 768): laterals 1440·256 + 4·256 = 369 664; 3×3 convs 4·(9·256² + 256) = 2 360 320.
        Assert.Equal(2_729_984, Fpn.ParameterCount([96, 192, 384, 768], 256));
        // RPN: 9·256² + 256 = 590 080; cls 257·3 = 771; reg 257·12 = 3 084.
        Assert.Equal(593_935, RpnHead.ParameterCount(256, 256, 3));
        // Box head: (12 544 + 1)·1024 + 1025·1024 + 1025·81 + 1025·320.
        Assert.Equal(14_306_705, Shared2FcBoxHead.ParameterCount(256, 7, 1024, 80));
        // Mask head: 4·(9·256² + 256) + (4·256² + 256) + 257·80.
        Assert.Equal(2_643_280, FcnMaskHead.ParameterCount(256, 256, 4, 80));

        using var fpn = new Fpn([96, 192, 384, 768], 256);
        Assert.Equal(2_729_984, Count(fpn));
        using var box = new Shared2FcBoxHead(256, 7, 1024, 80);
        Assert.Equal(14_306_705, Count(box));
        using var mask = new FcnMaskHead(256, 256, 4, 80);
        Assert.Equal(2_643_280, Count(mask));
        // Other widths against the same closed forms.
        using var f2 = new Fpn([5, 7, 11], 6);
        Assert.Equal(Fpn.ParameterCount([5, 7, 11], 6), Count(f2));
        using var m2 = new FcnMaskHead(5, 6, 2, 3);
        Assert.Equal(FcnMaskHead.ParameterCount(5, 6, 2, 3), Count(m2));
        using var m0 = new FcnMaskHead(5, 6, 0, 3);
        Assert.Equal(FcnMaskHead.ParameterCount(5, 6, 0, 3), Count(m0));
    }

    [Fact]
    public void ResNet50_Mask_RCNN_has_mmdetections_44_396_336_parameters()
    {
        // torchvision ResNet-50 without fc: 25 557 032 − (2048·1000 + 1000) = 23 508 032; FPN on (256, 512, 1024, 2048):
        // 3840·256 + 1024 + 2 360 320 = 3 344 384; RPN 593 935; box head 14 306 705; mask head 2 643 280. Sum 44 396 336,
        // the 44.396 M VMamba's FLOP script prints for mmdet's mask-rcnn_r50_fpn_1x_coco.
        using var model = DetectionZoo.Create("maskrcnn_resnet50", 80);
        Assert.Equal(44_396_336, Count(model));
    }

    [Theory]
    // VMamba README detection table (VMamba-T/S/B 50/70/108 M), VMamba Table 2 (ResNet-50 44 M); 80 classes.
    [InlineData("maskrcnn_vmamba_tiny_s1l8", 50)]
    [InlineData("maskrcnn_vmamba_small_s2l15", 70)]
    [InlineData("maskrcnn_vmamba_base_s2l15", 108)]
    public void VMamba_parameter_counts_are_within_1M_of_the_papers(string name, double paperM)
    {
        using var model = DetectionZoo.Create(name, 80);
        double m = Count(model) / 1e6;
        output.WriteLine($"{name}: {m:F3} M (paper {paperM} M)");
        Assert.InRange(m, paperM - 1, paperM + 1);
        // The count is the backbone without its classifier + one LayerNorm2d per level + the closed-form heads.
        var backbone = model.Backbone;
        int[] widths = model.BackboneLevels.Channels.ToArray();
        long outNorms = 2L * widths.Sum();
        long heads = Fpn.ParameterCount(widths, 256) + RpnHead.ParameterCount(256, 256, 3) + Shared2FcBoxHead.ParameterCount(256, 7, 1024, 80)
                     + FcnMaskHead.ParameterCount(256, 256, 4, 80);
        var cfg = VMambaFamily.Configs[model.Config.Backbone];
        long backboneNoClassifier = cfg.ParameterCount(numClasses: 0) - 2 * widths[^1];   // the classifier's norm goes too
        Assert.Equal(backboneNoClassifier + outNorms + heads, Count(model));
    }
}
