using TorchSharp;
using VisionSsm.Models;
using VisionSsm.Segmentation.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Segmentation;

public class SegmentationModelTests(ITestOutputHelper output)
{
    static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void UPerHead_and_FcnHead_parameter_counts_follow_their_closed_forms()
    {
        // VMamba-T levels (96, 192, 384, 768), 512 channels, 150 classes, worked out by hand:
        // PPM 4·(768·512 + 1024) = 1 576 960; bottleneck 9·(768 + 2048)·512 + 1024 = 12 977 152;
        // laterals (96 + 192 + 384)·512 + 3·1024 = 347 136; FPN convs 3·(9·512² + 1024) = 7 080 960;
        // FPN bottleneck 9·2048·512 + 1024 = 9 438 208; conv_seg 512·150 + 150 = 76 950 → 31 497 366.
        int[] levels = [96, 192, 384, 768];
        Assert.Equal(31_497_366, UPerHead.ParameterCount(levels, 512, 150));
        using var head = new UPerHead(levels, 512, 150);
        Assert.Equal(31_497_366, Count(head));
        // FCN: 9·384·256 + 2·256 + 256·150 + 150 = 923 798.
        Assert.Equal(923_798, FcnHead.ParameterCount(384, 256, 150));
        using var aux = new FcnHead(384, 256, 150);
        Assert.Equal(923_798, Count(aux));
        // Other widths and level counts against the same closed form.
        int[] small = [5, 7, 11];
        using var h2 = new UPerHead(small, 6, 3, poolScales: [1, 2]);
        Assert.Equal(UPerHead.ParameterCount(small, 6, 3, poolScales: 2), Count(h2));
        using var a2 = new FcnHead(7, 4, 3, numConvs: 2);
        Assert.Equal(FcnHead.ParameterCount(7, 4, 3, numConvs: 2), Count(a2));
        using var mln = new MultiLevelNeck([4, 4, 4, 4], 6);
        Assert.Equal(MultiLevelNeck.ParameterCount([4, 4, 4, 4], 6), Count(mln));
    }

    [Theory]
    // Papers' figures (VMamba Table 3), params with the auxiliary head, 150 classes, rounded to whole millions.
    [InlineData("upernet_vmamba_tiny_s1l8", 62)]
    [InlineData("upernet_vmamba_small", 82)]
    [InlineData("upernet_vmamba_base", 122)]
    [InlineData("upernet_resnet50", 67)]
    [InlineData("upernet_resnet101", 85)]
    public void Parameter_counts_are_within_1M_of_the_papers(string name, double paperM)
    {
        using var model = SegmentationZoo.Create(name, 150);
        double m = Count(model) / 1e6;
        output.WriteLine($"{name}: {m:F3} M (paper {paperM} M)");
        Assert.InRange(m, paperM - 1, paperM + 1);
    }

    [Fact]
    public void VMamba_count_is_backbone_without_classifier_plus_out_norms_plus_heads()
    {
        // The segmentation backbone drops the classifier (its norm and head) and adds a LayerNorm2d per level.
        var cfg = VMambaFamily.Configs["vmamba_tiny_s1l8"];
        long backbone = cfg.ParameterCount(numClasses: 0) - 2 * 768;
        long outNorms = 2 * (96 + 192 + 384 + 768);
        long expected = backbone + outNorms + UPerHead.ParameterCount([96, 192, 384, 768], 512, 150) + FcnHead.ParameterCount(384, 256, 150);
        using var model = SegmentationZoo.Create("upernet_vmamba_tiny_s1l8", 150);
        Assert.Equal(expected, Count(model));
    }

    [Fact]
    public void State_dict_keys_follow_mmsegmentation()
    {
        using var model = SegmentationZoo.Create("upernet_vmamba_nano", 11, inChannels: 1);
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (var k in new[]
                 {
                     "backbone.patch_embed.0.weight", "backbone.layers.0.blocks.0.op.in_proj.weight", "backbone.outnorm0.weight", "backbone.outnorm3.bias",
                     "decode_head.psp_modules.0.1.conv.weight", "decode_head.psp_modules.3.1.bn.running_var", "decode_head.bottleneck.conv.weight",
                     "decode_head.lateral_convs.2.conv.weight", "decode_head.fpn_convs.0.bn.weight", "decode_head.fpn_bottleneck.conv.weight",
                     "decode_head.conv_seg.weight", "decode_head.conv_seg.bias", "auxiliary_head.convs.0.conv.weight",
                     "auxiliary_head.convs.0.bn.num_batches_tracked", "auxiliary_head.conv_seg.bias",
                 })
            Assert.Contains(k, keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("backbone.classifier", StringComparison.Ordinal));
        Assert.DoesNotContain("decode_head.bottleneck.conv.bias", keys);   // ConvModule with a norm: conv without bias
    }

    [Fact]
    public void Vim_and_deit_keys_name_the_pyramid_and_the_neck()
    {
        using var vim = new SegmentationModel(new SegmentationConfig("vim_nano", [1, 2, 3, 5], Neck: SegmentationNeck.Pyramid, Channels: 8, AuxChannels: 4),
            new ModelOptions(3, 1, 16));
        var keys = vim.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "backbone.fpn1.0.weight", "backbone.fpn1.1.running_mean", "backbone.fpn1.3.weight", "backbone.fpn2.0.bias", "backbone.pos_embed" })
            Assert.Contains(k, keys);
        Assert.Equal(PyramidNeck.ParameterCount(96), keys.Where(k => k.StartsWith("backbone.fpn", StringComparison.Ordinal))
            .Select(k => vim.state_dict()[k]).Where(t => t.is_floating_point()).Sum(t => t.numel()) - 2 * 96);   // minus BN running stats
        using var deit = new SegmentationModel(new SegmentationConfig("deit_nano", [0, 1, 2, 3], Neck: SegmentationNeck.MultiLevel, NeckChannels: 8,
            Channels: 8, AuxChannels: 4, AuxIndex: 3, DropChildren: ["norm"]), new ModelOptions(3, 1, 16));
        keys = deit.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "neck.lateral_convs.0.conv.weight", "neck.lateral_convs.0.conv.bias", "neck.convs.3.conv.weight", "backbone.blocks.0.attn.qkv.weight" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain("backbone.norm.weight", keys);
    }

    // Every backbone family at sizes that are not multiples of the total stride (fixed-size backbones are padded).
    public static TheoryData<string, int, int> Backbones => new()
    {
        { "vmamba_nano", 37, 45 },
        { "vmamba_nano_s4", 37, 45 },
        { "resnet_nano", 29, 23 },
        { "vgamba_nano", 27, 19 },
        { "vim_nano", 25, 21 },
        { "deit_nano", 19, 27 },
    };

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Output_shapes_for_every_backbone_at_odd_sizes(string backbone, int h, int w)
    {
        using var scope = NewDisposeScope();
        bool plain = backbone is "vim_nano" or "deit_nano";
        bool vmamba = backbone.StartsWith("vmamba_nano", StringComparison.Ordinal);
        var config = plain
            ? new SegmentationConfig(backbone, [0, 1, 2, 3], Neck: backbone == "vim_nano" ? SegmentationNeck.Pyramid : SegmentationNeck.MultiLevel,
                NeckChannels: 12, Channels: 8, AuxChannels: 4)
            : new SegmentationConfig(backbone, [0, 1, 2, 3], OutNorms: vmamba, Channels: 8, AuxChannels: 4,
                DropChildren: vmamba ? ["classifier"] : null);
        int built = backbone == "vgamba_nano" ? 28 : plain ? 28 : Math.Max(h, w);
        using var model = new SegmentationModel(config, new ModelOptions(5, 1, built));
        model.train();
        var x = randn(2, 1, h, w);
        var (main, aux) = model.ForwardTrain(x);
        int r = model.OutputStride;
        output.WriteLine($"{backbone}: stride {r}, main [{string.Join(", ", main.shape)}], aux [{string.Join(", ", aux!.shape)}]");
        Assert.Equal([2L, 5, (h + r - 1) / r, (w + r - 1) / r], main.shape);
        Assert.Equal(5, aux.shape[1]);
        model.eval();
        using var _ = no_grad();
        Assert.Equal([2L, 5, h, w], model.Predict(x).shape);
    }

    [Fact]
    public void Fixed_size_backbones_refuse_larger_inputs_and_unknown_names_fail()
    {
        using var model = new SegmentationModel(new SegmentationConfig("vim_nano", [0, 1, 2, 3], Neck: SegmentationNeck.Pyramid, Channels: 8, AuxChannels: 4),
            new ModelOptions(3, 1, 16));
        var e = Assert.Throws<ArgumentException>(() => model.forward(zeros(1, 1, 20, 16)));
        Assert.Contains("sliding-window", e.Message);
        Assert.Throws<ArgumentException>(() => model.forward(zeros(1, 3, 16, 16)));
        var u = Assert.Throws<ArgumentException>(() => SegmentationZoo.Get("upernet_nope"));
        Assert.Contains("upernet_vmamba_tiny_s1l8", u.Message);
        Assert.Throws<ArgumentException>(() => new SegmentationModel(new SegmentationConfig("vmamba_nano", [0, 1, 7]), new ModelOptions(3, 1, 32)));
    }

    [Fact]
    public void Backbone_checkpoint_loads_into_the_backbone_alone()
    {
        using var cls = ModelZoo.Create("vmamba_nano", new ModelOptions(10, 1, 32));
        var sd = cls.state_dict();
        using var seg = SegmentationZoo.Create("upernet_vmamba_nano", 11, inChannels: 1);
        var diff = seg.LoadBackboneWeights(sd);
        Assert.Contains("classifier.head.weight", diff.Unexpected);
        Assert.Contains("outnorm0.weight", diff.Missing);
        var a = cls.state_dict()["layers.1.blocks.0.op.in_proj.weight"];
        var b = seg.state_dict()["backbone.layers.1.blocks.0.op.in_proj.weight"];
        Assert.True(a.eq(b).all().item<bool>());
        // A checkpoint of another backbone is refused, naming the keys.
        using var other = ModelZoo.Create("resnet_nano", new ModelOptions(10, 1, 32));
        var e = Assert.Throws<InvalidDataException>(() => seg.LoadBackboneWeights(other.state_dict()));
        Assert.Contains("missing keys", e.Message);
        // A full segmentation state_dict round-trips by name.
        using var copy = SegmentationZoo.Create("upernet_vmamba_nano", 11, inChannels: 1);
        Assert.True(copy.LoadWeights(seg.state_dict()).IsExact);
    }
}

public class SegmentationFlopTests(ITestOutputHelper output)
{
    [Theory]
    // VMamba Table 3: FLOPs at 512×2048 (fvcore convention + scan formula), within 2 %. S, B and ResNet-101 (1027.8,
    // 1169.8 and 1024.8 G against 1039, 1170 and 1030) are left to `vssm models --task segmentation --flops` to keep
    // the suite fast (docs/segmentation.md §3).
    [InlineData("upernet_vmamba_tiny_s1l8", 948)]
    [InlineData("upernet_resnet50", 953)]
    public void Flops_at_512x2048_are_within_2_percent_of_the_paper(string name, double paperG)
    {
        using var model = SegmentationZoo.Create(name, 150);
        double g = SegmentationFlops.ExtrapolatedGFlops(model, 512, 2048);
        output.WriteLine($"{name}: {g:F1} G (paper {paperG} G, {100 * (g / paperG - 1):+0.0;-0.0} %)");
        Assert.InRange(g, paperG * 0.98, paperG * 1.02);
    }

    [Fact]
    public void The_count_is_affine_in_the_pixel_count()
    {
        // A third size on the line through two others: the premise of the extrapolation.
        using var model = SegmentationZoo.Create("upernet_resnet_nano", 11, inChannels: 1);
        double f1 = SegmentationFlops.Count(model, 32, 64).GFlops, f2 = SegmentationFlops.Count(model, 64, 128).GFlops;
        double f3 = SegmentationFlops.Count(model, 128, 256).GFlops;
        double predicted = f2 + (f2 - f1) * (128.0 * 256 - 64 * 128) / (64.0 * 128 - 32 * 64);
        Assert.Equal(f3, predicted, 6);
    }
}
