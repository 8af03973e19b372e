using VisionSsm.Analysis;
using VisionSsm.Layers;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

public class VGambaTests
{
    static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());
    static long Params(nn.Module m, string prefix) => m.named_parameters().Where(p => p.name.StartsWith(prefix, StringComparison.Ordinal)).Sum(p => p.parameter.numel());

    [Fact]
    public void VGambaBCountsKeysAndThopFigures()
    {
        using var m = ModelZoo.Create("vgamba_b");
        Assert.Equal(21_367_123, Params(m));   // sum(p.numel()) of model.py, docs/models/vgamba.md §3
        // Per-block table of docs/models/vgamba.md §3.
        Assert.Equal(209_792, Params(m, "layer3.0.conv2.0.ggnn."));
        Assert.Equal(153_344, Params(m, "layer3.0.conv2.0.ggnn.mamba_block."));
        Assert.Equal(49_280, Params(m, "layer3.0.conv2.0.ggnn.gate."));
        Assert.Equal(696_448, Params(m, "layer3.0.conv2.0.mhsa."));
        Assert.Equal(639_744, Params(m, "layer3.0.conv2.0.mhsa.register_tokens"));
        Assert.Equal(66_305, Params(m, "layer3.0.conv2.0.gating."));
        Assert.Equal(206_208, Params(m, "layer3.4.conv2.0.ggnn."));
        Assert.Equal(97_808, Params(m, "layer3.4.conv2.0.mhsa."));
        Assert.Equal(715_520, Params(m, "layer4.0.conv2.0.ggnn."));
        Assert.Equal(511_488, Params(m, "layer4.0.conv2.0.ggnn.mamba_block."));
        Assert.Equal(255_504, Params(m, "layer4.0.conv2.0.mhsa."));
        Assert.Equal(263_681, Params(m, "layer4.0.conv2.0.gating."));
        Assert.Equal(711_936, Params(m, "layer4.2.conv2.0.ggnn."));
        Assert.Equal(206_497, Params(m, "layer4.2.conv2.0.mhsa."));

        var sd = m.state_dict();
        var shapes = new Dictionary<string, long[]>
        {
            ["layer3.0.conv2.0.ggnn.rel_h"] = [1, 128, 1, 28],
            ["layer3.0.conv2.0.ggnn.rel_w"] = [1, 128, 28, 1],
            ["layer3.0.conv2.0.ggnn.mamba_block.A_log"] = [256, 64],
            ["layer3.0.conv2.0.ggnn.mamba_block.in_proj.weight"] = [512, 128],
            ["layer3.0.conv2.0.ggnn.mamba_block.conv1d.weight"] = [256, 1, 4],
            ["layer3.0.conv2.0.ggnn.mamba_block.x_proj.weight"] = [8 + 128, 256],
            ["layer3.0.conv2.0.ggnn.mamba_block.dt_proj.weight"] = [256, 8],
            ["layer3.0.conv2.0.ggnn.mamba_block.out_proj.weight"] = [128, 256],
            ["layer3.0.conv2.0.ggnn.gate.0.weight"] = [128, 128, 3],
            ["layer3.0.conv2.0.mhsa.rel_h"] = [1, 4, 32, 1, 28],
            ["layer3.0.conv2.0.mhsa.rel_w"] = [1, 4, 32, 28, 1],
            ["layer3.0.conv2.0.mhsa.register_tokens"] = [1, 784, 784],
            ["layer3.0.conv2.0.mhsa.register_tokens_v"] = [1, 32, 784],
            ["layer3.0.conv2.0.mhsa.Q.weight"] = [128, 128, 1, 1],
            ["layer3.0.conv2.0.gating.proj_a.weight"] = [256, 128, 1, 1],
            ["layer3.0.conv2.0.gating.gate.weight"] = [1, 256, 1, 1],
            ["layer4.1.conv2.0.mhsa.register_tokens"] = [1, 49, 49],
            ["layer1.0.shortcut.0.bias"] = [256],
            ["layer2.1.conv2.weight"] = [128, 128, 3, 3],
            ["fc.1.weight"] = [1000, 2048],
            ["bn1.num_batches_tracked"] = [],
        };
        foreach (var (k, shape) in shapes)
        {
            Assert.True(sd.ContainsKey(k), k);
            Assert.Equal(shape, sd[k].shape);
        }
        Assert.Contains("layer3.2.conv2.0.ggnn.mamba_block.D", sd.Keys);
        Assert.Contains("layer4.0.conv2.0.ggnn.mamba_block.dt_proj.bias", sd.Keys);
        Assert.Contains("layer3.0.conv2.0.mhsa.K.bias", sd.Keys);
        Assert.Contains("layer3.0.conv2.0.gating.proj_b.bias", sd.Keys);
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("layer2.0.conv2.0", StringComparison.Ordinal));

        var thop = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Thop);
        Assert.Equal(18_943_793, thop.VisibleParameters);   // the paper's 18.94M
        Assert.Equal(3.771, Math.Round(thop.GFlops, 3));     // the paper's 3.77G
    }

    [Fact]
    public void VGambaLCountsAndThopFigures()
    {
        using var m = ModelZoo.Create("vgamba_l");
        Assert.Equal(36_627_700, Params(m));
        var thop = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Thop);
        Assert.Equal(31_886_658, thop.VisibleParameters);   // the paper's 31.89M
        Assert.Equal(6.324, Math.Round(thop.GFlops, 3));     // the paper's 6.32G
        var f = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Fvcore);
        Assert.Equal(8.18, Math.Round(f.GFlops, 2));         // docs/models/vgamba.md §3: ≈ 8.18G
    }

    [Fact]
    public void VGambaBFvcoreCountAddsAttentionMambaMatmulsAndScan()
    {
        using var m = ModelZoo.Create("vgamba_b");
        var f = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Fvcore);
        Assert.Equal(4.65, Math.Round(f.GFlops, 2));   // docs/models/vgamba.md §3: ≈ 4.65G
        // Scan: Σ over cells of 9·L·Di·N + 2·Di·L (D skip and z gate), N = 64.
        long Scan(long l, long di) => 9 * l * di * 64 + 2 * di * l;
        long expected = Scan(784, 256) + 5 * Scan(196, 256) + Scan(196, 512) + 2 * Scan(49, 512);
        Assert.Equal(expected, f.ByCategory["scan"]);
        // Attention: 3 matmuls of h·Np²·d per MHSA plus the register head's d·Np² value product.
        long Attn(long np, long d) => 3 * 4 * np * np * d + d * np * np;
        Assert.Equal(Attn(784, 32) + 5 * Attn(196, 32) + Attn(196, 64) + 2 * Attn(49, 64), f.ByCategory["attention"]);
    }

    [Fact]
    public void OtherInputSizeIsRejectedNamingTheBuiltSize()
    {
        using var m = ModelZoo.Create("vgamba_nano", new ModelOptions(10, InChannels: 1));
        var ex = Assert.Throws<ArgumentException>(() => m.call(randn(1, 1, 32, 32)));
        Assert.Contains("28×28", ex.Message);
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("vgamba_b", new ModelOptions(ImageSize: 200)));   // odd side 25 before a pooled block
    }

    [Theory]
    [InlineData("vgamba_nano", 32)]
    [InlineData("vgamba_nano", 28)]
    public void NanoRunsForwardBackwardWithFeatures(string name, int size)
    {
        using var m = ModelZoo.Create(name, new ModelOptions(10, InChannels: 1, ImageSize: size));
        m.train();
        var x = randn(2, 1, size, size);
        var loss = nn.functional.cross_entropy(m.call(x), tensor(new long[] { 1, 7 }));
        loss.backward();
        Assert.True(m.parameters().Where(p => p.grad is not null).All(p => !p.grad!.isnan().any().item<bool>()));
        m.eval();
        var f = m.ForwardIntermediates(x);
        Assert.Equal(4, f.Count);
        Assert.Equal(new long[] { 2, 512, size / 4, size / 4 }, f[3].shape);
    }

    /// <summary>Each ablation row at small scale (the cell-level switches on a nano-sized model): builds, runs forward and
    /// backward, and has the parameter count its structure implies.</summary>
    [Theory]
    [InlineData(GambaMixer.Fused, true, true)]
    [InlineData(GambaMixer.MhsaOnly, true, true)]
    [InlineData(GambaMixer.CellOnly, true, true)]
    [InlineData(GambaMixer.Concatenated, true, true)]
    [InlineData(GambaMixer.CellOnly, false, true)]
    [InlineData(GambaMixer.CellOnly, true, false)]
    public void AblationVariantsBuildRunAndCount(GambaMixer mixer, bool mask, bool pos)
    {
        var cfg = VGambaFamily.Nano with { Mixer = mixer, ContextMask = mask, PositionalEmbedding = pos };
        using var m = new VGamba(cfg, new ModelOptions(10, InChannels: 1));
        var loss = m.call(randn(2, 1, 28, 28)).square().mean();
        loss.backward();
        // Stage 3 (P = 64, runs at side 14) and stage 4 (P = 128, side 7): count the mixers from the formulas.
        long Cell(long c, long s) => Mamba.ParameterCount(new MambaConfig((int)c, DState: 16)) + (mask ? c * c * 3 + c : 0) + (pos ? 2 * c * s : 0);
        long Mhsa(long c, long s) => 3 * (c * c + c) + 2 * c * s + s * s * s * s + c / 4 * s * s;
        long Mixer(long p, long s) => mixer switch
        {
            GambaMixer.Fused => Cell(p / 2, s) + Mhsa(p / 2, s) + 2 * (p / 2 * p + p) + p + 1,
            GambaMixer.Concatenated => Cell(p / 2, s) + Mhsa(p / 2, s),
            GambaMixer.MhsaOnly => Mhsa(p, s),
            _ => Cell(p, s),
        };
        Assert.Equal(Mixer(64, 14), Params(m, "layer3.0.conv2.0."));
        Assert.Equal(Mixer(128, 7), Params(m, "layer4.0.conv2.0."));
        long skeleton = Params(m) - Params(m, "layer3.0.conv2.0.") - Params(m, "layer4.0.conv2.0.");
        using var plain = new ResNet(cfg.Skeleton with { ImageSize = 28 }, new ModelOptions(10, InChannels: 1));
        long plain3x3 = 64 * 64 * 9 + 128 * 128 * 9;
        Assert.Equal(Params(plain) - plain3x3, skeleton);
        Assert.All(m.named_parameters().Where(p => !p.name.Contains("register_tokens")), p => Assert.NotNull(p.parameter.grad));
    }

    [Fact]
    public void FullSizeAblationsAndFixedVariantsBuildWithExpectedCounts()
    {
        using var b = ModelZoo.Create("vgamba_b");
        using var fixedB = ModelZoo.Create("vgamba_b_fixed");
        Assert.Equal(Params(b), Params(fixedB));
        using var cellOnly = ModelZoo.Create("vgamba_b_cell_only");
        using var noMask = ModelZoo.Create("vgamba_b_cell_only_no_mask");
        using var noPos = ModelZoo.Create("vgamba_b_cell_only_no_pos");
        // Removing the mask removes one c×c×3 conv (+ bias) per cell; removing positions removes 2·c·S per cell (c = P).
        long masks = (256 * 256 * 3 + 256) * 6 + (512 * 512 * 3 + 512) * 3;
        long poss = 2 * 256 * (28 + 5 * 14) + 2 * 512 * (14 + 2 * 7);
        Assert.Equal(Params(cellOnly) - masks, Params(noMask));
        Assert.Equal(Params(cellOnly) - poss, Params(noPos));
        // The paper's Table 5 rows that the "all P channels to one mixer" reading reproduces under thop.
        var cellThop = FlopCounter.Count(cellOnly, [1, 3, 224, 224], FlopConvention.Thop);
        Assert.Equal(21.81, Math.Round(cellThop.VisibleParameters / 1e6, 2));
        Assert.Equal(4.24, Math.Round(cellThop.GFlops, 2));
        using var mhsaOnly = ModelZoo.Create("vgamba_b_mhsa_only");
        Assert.Equal(3.68, Math.Round(FlopCounter.Count(mhsaOnly, [1, 3, 224, 224], FlopConvention.Thop).GFlops, 2));
    }
}
