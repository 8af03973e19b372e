using TorchSharp;
using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Models;

/// <summary>
/// A vGamba configuration. Defaults reproduce the authors' model.py (yunusa2k2/vGamba b85d24d; reference-spec.md §5.2,
/// §5.5): causal Mamba with d_state 64, factorised positional embedding, Conv1d k3 + sigmoid context mask, the raw
/// reshape of the cell output, no 1/√d in attention, one register token whose head is discarded, fusion with one
/// shared gate conv. The "_fixed" variants set <see cref="FixCellLayout"/> and <see cref="ScaleAttention"/>.
/// </summary>
public sealed record VGambaConfig(int[] Depths, int ImageSize = 224, bool FixCellLayout = false, bool ScaleAttention = false,
    bool BidirectionalCell = false, GambaMixer Mixer = GambaMixer.Fused, bool ContextMask = true, bool PositionalEmbedding = true,
    int DState = 64, int Heads = 4, int RegisterTokens = 1, ResNetStem Stem = ResNetStem.ImageNet, int[]? Widths = null,
    int[]? Strides = null, int StemWidth = 64)
{
    /// <summary>The ResNet skeleton (leaderj1001 BoTNet layout: biased shortcut, Dropout 0.3 head, PyTorch default init).</summary>
    public ResNetConfig Skeleton => new ResNetConfig(Depths, Stem, Widths, Strides, StemWidth, ImageSize: ImageSize).AsBotSkeleton();

    public GambaCellOptions Cell => new(DState, PositionalEmbedding, ContextMask, FixCellLayout, BidirectionalCell);

    /// <summary>The evident defects mended (cell output transposed back; logits scaled by 1/√d).</summary>
    public VGambaConfig Fixed() => this with { FixCellLayout = true, ScaleAttention = true };
}

/// <summary>
/// vGamba (Yunusa et al. 2025, "vGamba: Attentive State Space Bottleneck"): a ResNet whose stages 3–4 use Gamba
/// bottlenecks — the bottleneck's conv2 is <c>Sequential(GambaBlock[, AvgPool2d(2, 2)])</c>, so a stride-2 block runs
/// its mixer at the input side and pools afterwards; stages 1–2 are standard bottlenecks; GAP → Dropout 0.3 → fc.
/// Keys per reference-spec.md §5.4 (<c>layer3.0.conv2.0.ggnn.mamba_block.in_proj.weight</c>, <c>fc.1.weight</c>, …).
/// The positional and register parameters depend on <see cref="VGambaConfig.ImageSize"/>; other sizes are rejected
/// with an ArgumentException naming the built size.
/// Differences from the paper (all faithful to model.py by default): the cell is causal and unidirectional (paper:
/// "removes causality"); the "relative" cell embedding is absolute and factorised; the cell's raw reshape scrambles
/// channels and positions; attention has no 1/√d; the register head is discarded; fusion gates are two independent
/// sigmoids from one shared conv; the paper's 18.94M / 3.77G are thop figures that omit functionally used weights.
/// </summary>
public sealed class VGamba : ResNet
{
    public VGambaConfig VGambaConfig { get; }

    public VGamba(VGambaConfig config, ModelOptions options)
        : base(Checked(config).Skeleton, options, site => site.Stage >= 2
            ? new GambaBlock(site.Planes, site.Side, config.Mixer, config.Cell, config.Heads, config.RegisterTokens, config.ScaleAttention)
            : null)
    {
        VGambaConfig = config with { ImageSize = Config.ImageSize };
    }

    static VGambaConfig Checked(VGambaConfig config) => config ?? throw new ArgumentNullException(nameof(config));
}

/// <summary>vGamba-B/L (faithful and fixed), the ablation rows of the paper's Tables 5–6 on vGamba-B, and <c>vgamba_nano</c>.</summary>
public sealed class VGambaFamily : IModelFamily
{
    static readonly VGambaConfig B = new([3, 4, 6, 3]);
    static readonly VGambaConfig L = new([3, 4, 23, 3]);

    /// <summary>Small-image variant for 28×28/32×32: 3×3 stem, widths 16–128, one block per stage, stage 4 unstrided (so
    /// 28 px stays even before the pooled stage-3 block), d_state 16.</summary>
    public static readonly VGambaConfig Nano = new([1, 1, 1, 1], ImageSize: 28, DState: 16, Stem: ResNetStem.SmallImage,
        Widths: [16, 32, 64, 128], Strides: [1, 2, 2, 1], StemWidth: 16);

    public IEnumerable<ModelEntry> Entries =>
    [
        Entry("vgamba_b", B, new ReportedFigures(18.94, 3.77, 81.1, "vGamba paper Table 2 (thop)"), "vGamba-B [3,4,6,3], faithful to model.py"),
        Entry("vgamba_l", L, new ReportedFigures(31.89, 6.32, 82.8, "vGamba paper Table 2 (thop)"), "vGamba-L [3,4,23,3], faithful to model.py"),
        Entry("vgamba_b_fixed", B.Fixed(), null, "vGamba-B with the cell layout fixed and attention scaled by 1/√d"),
        Entry("vgamba_l_fixed", L.Fixed(), null, "vGamba-L with the cell layout fixed and attention scaled by 1/√d"),
        Entry("vgamba_b_mhsa_only", B with { Mixer = GambaMixer.MhsaOnly }, new ReportedFigures(18.94, 3.68, 78.9, "vGamba paper Table 5"),
            "ablation: MHSA only in the Gamba blocks"),
        Entry("vgamba_b_cell_only", B with { Mixer = GambaMixer.CellOnly }, new ReportedFigures(21.81, 4.24, 77.9, "vGamba paper Table 5"),
            "ablation: Gamba cell only"),
        Entry("vgamba_b_no_fusion", B with { Mixer = GambaMixer.Concatenated }, new ReportedFigures(18.92, 3.73, 79.3, "vGamba paper Table 5"),
            "ablation: cell + MHSA, halves concatenated (no gated fusion)"),
        // Table 6 removes cell components from the cell-only model (its baseline is the cell-only 77.9%).
        Entry("vgamba_b_cell_only_no_mask", B with { Mixer = GambaMixer.CellOnly, ContextMask = false },
            new ReportedFigures(Top1: 76.8, Source: "vGamba paper Table 6"), "ablation: cell only, without the spatial context mask"),
        Entry("vgamba_b_cell_only_no_pos", B with { Mixer = GambaMixer.CellOnly, PositionalEmbedding = false },
            new ReportedFigures(Top1: 73.9, Source: "vGamba paper Table 6"), "ablation: cell only, without the positional embedding"),
        Entry("vgamba_nano", Nano, null, "small-image vGamba for 28×28/32×32 (widths 16–128, d_state 16); for quick training runs"),
    ];

    /// <summary>No official weights are released; the ImageNet entries use the 0.875 bicubic protocol of the models compared.</summary>
    static ModelEntry Entry(string name, VGambaConfig config, ReportedFigures? reported, string description) =>
        new(name, "vgamba", config.ImageSize, o => new VGamba(config, o), FlopConvention.Thop, reported, description)
        {
            Preprocessing = config.ImageSize == 224 ? Preprocessing.ImageNet() : Preprocessing.FashionMnist(config.ImageSize),
        };
}
