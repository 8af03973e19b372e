using VisionSsm.Models;

namespace VisionSsm.Segmentation.Models;

/// <summary>Figures a paper reports for a UperNet variant on ADE20K (150 classes; FLOPs at 512×2048).</summary>
public sealed record SegmentationFigures(double ParamsM, double? GFlops, double? MIoU, double? MIoUMs, string Source);

/// <summary>
/// One registered UperNet variant: name, configuration, the crop it trains at, the paper's figures, and a description.
/// <paramref name="CropSize"/> is also the size fixed-size backbones are built for.
/// </summary>
public sealed record SegmentationEntry(string Name, SegmentationConfig Config, int CropSize, SegmentationFigures? Reported, string Description)
{
    /// <summary>Builds the variant for <paramref name="numClasses"/> classes (ImageSize defaults to the crop).</summary>
    public SegmentationModel Create(ModelOptions options) =>
        new(Config, options with { ImageSize = options.ImageSize ?? CropSize });

    /// <summary>The backbone's zoo entry.</summary>
    public ModelEntry BackboneEntry => ModelZoo.Get(Config.Backbone);
}

/// <summary>
/// The UperNet variants by name (docs/segmentation.md §2), with the figures of VMamba's Table 3 and vGamba's Table 3 beside
/// them. <c>SegmentationZoo.Create("upernet_vmamba_tiny_s1l8", 150)</c>.
/// </summary>
public static class SegmentationZoo
{
    const string VMambaT3 = "VMamba paper Table 3";
    const string VGambaT3 = "vGamba paper Table 3";

    static readonly string[] DropVMambaClassifier = ["classifier"];
    static readonly string[] DropVitNorm = ["norm"];

    static SegmentationConfig Hierarchical(string backbone, bool outNorms, double? dropPath = null) =>
        new(backbone, [0, 1, 2, 3], OutNorms: outNorms, DropChildren: outNorms ? DropVMambaClassifier : null, DropPathRate: dropPath);

    static readonly SegmentationEntry[] All =
    [
        // VMamba segmentation/configs/vssm1/upernet_vssm_4xb4-160k_ade20k-512x512_{tiny,small,base}.py: Backbone_VSSM with
        // ln2d out norms; head from mmseg's upernet_swin (channels 512, aux on level 2 with 256 channels).
        new("upernet_vmamba_tiny_s1l8", Hierarchical("vmamba_tiny_s1l8", true, 0.2), 512, new(62, 948, 47.9, 48.8, VMambaT3),
            "UperNet + VMamba-T [s1l8] (the README's T), ADE20K recipe of segmentation/configs/vssm1"),
        new("upernet_vmamba_small", Hierarchical("vmamba_small_s2l15", true, 0.3), 512, new(82, 1039, 50.6, 51.2, VMambaT3),
            "UperNet + VMamba-S [s2l15]"),
        new("upernet_vmamba_base", Hierarchical("vmamba_base_s2l15", true, 0.6), 512, new(122, 1170, 51.0, 51.6, VMambaT3),
            "UperNet + VMamba-B [s2l15]"),
        // mmseg configs/_base_/models/upernet_r50.py (ResNetV1c: three-conv stem; ours is torchvision's 7×7 stem, docs/segmentation.md §3).
        new("upernet_resnet50", Hierarchical("resnet50", false), 512, new(67, 953, 42.1, 42.8, VMambaT3), "UperNet + ResNet-50"),
        new("upernet_resnet101", Hierarchical("resnet101", false), 512, new(85, 1030, 42.9, 44.0, VMambaT3), "UperNet + ResNet-101"),
        // hustvl/Vim seg/configs/vim/upernet/upernet_vim_small_24_512_slide_60k.py: blocks 5/11/17/23, the deconv pyramid,
        // decode channels 384, aux on level 2 (384 → 256).
        new("upernet_vim_small", new("vim_small", [5, 11, 17, 23], Neck: SegmentationNeck.Pyramid, Channels: 384, DropPathRate: 0.1), 512,
            new(46, null, 44.9, null, VGambaT3), "UperNet + Vim-S with Vim's deconvolution pyramid (blocks 5/11/17/23, head width 384)"),
        new("upernet_vim_tiny", new("vim_tiny", [5, 11, 17, 23], Neck: SegmentationNeck.Pyramid, Channels: 192, DropPathRate: 0.1), 512,
            null, "UperNet + Vim-Ti with Vim's deconvolution pyramid (head width 192)"),
        // mmseg configs/vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py: blocks 2/5/8/11, MLN 384 → 384 at scales
        // 4/2/1/0.5, UPerHead 512, aux on level 3; no final norm.
        new("upernet_deit_small", new("deit_small", [2, 5, 8, 11], Neck: SegmentationNeck.MultiLevel, NeckChannels: 384, AuxIndex: 3,
                DropChildren: DropVitNorm, DropPathRate: 0.1), 512,
            new(58, 1217, 43.8, 45.1, VMambaT3), "UperNet + DeiT-S with mmseg's multi-level neck (MLN)"),
        new("upernet_vgamba_b", Hierarchical("vgamba_b", false), 512, new(55, 941, 50.9, 51.3, VGambaT3),
            "UperNet + vGamba-B (faithful to model.py; built for the 512 crop, its positional parameters depend on it)"),
        // Small images: the default of `vssm segment train` (64×64 Fashion-MNIST canvases). Stride-2 stem, so the head
        // decodes at 1/2 (32×32 logits for a 64² canvas); a narrow head. No drop path: under two passes over the canvases
        // the model is far from overfitting (docs/segmentation.md §5).
        new("upernet_vmamba_nano", new("vmamba_nano", [0, 1, 2, 3], OutNorms: true, Channels: 32, AuxChannels: 16, DropChildren: DropVMambaClassifier, DropPathRate: 0.0),
            64, null, "small-image UperNet: vmamba_nano (stride-2 stem) + out norms, head width 32, aux 16; for 64² canvases"),
        new("upernet_vmamba_nano_s4", new("vmamba_nano_s4", [0, 1, 2, 3], OutNorms: true, Channels: 64, AuxChannels: 32, DropChildren: DropVMambaClassifier, DropPathRate: 0.0),
            64, null, "small-image UperNet: vmamba_nano_s4 (stride-4 stem) + out norms, head width 64, aux 32; for 64² canvases"),
        new("upernet_resnet_nano", Hierarchical("resnet_nano", false) with { Channels = 64, AuxChannels = 32 }, 64, null,
            "small-image UperNet on resnet_nano (stride-1 stem), head width 64, aux 32"),
    ];

    static readonly Dictionary<string, SegmentationEntry> ByName = All.ToDictionary(e => e.Name, StringComparer.Ordinal);

    public static IReadOnlyList<SegmentationEntry> Entries => All;
    public static IReadOnlyList<string> Names => All.Select(e => e.Name).ToList();

    public static SegmentationEntry Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (ByName.TryGetValue(name, out var e)) return e;
        throw new ArgumentException($"Unknown segmentation model '{name}'. Known: {string.Join(", ", Names)}.", nameof(name));
    }

    public static SegmentationModel Create(string name, int numClasses = 150, int? imageSize = null, int inChannels = 3) =>
        Get(name).Create(new ModelOptions(numClasses, inChannels, imageSize));

    public static SegmentationModel Create(string name, ModelOptions options) => Get(name).Create(options);
}
