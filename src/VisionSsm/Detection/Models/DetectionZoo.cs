using VisionSsm.Models;

namespace VisionSsm.Detection.Models;

/// <summary>Figures a paper reports for a Mask R-CNN 1× variant on COCO (80 classes; FLOPs at 1280×800).</summary>
public sealed record DetectionFigures(double ParamsM, double? GFlops, double? BoxAp, double? MaskAp, string Source);

/// <summary>
/// One registered detector: name, configuration, the image side it is built for (fixed-size backbones are built for it;
/// the others take any size), the paper's figures and a description.
/// </summary>
public sealed record DetectionEntry(string Name, MaskRcnnConfig Config, int ImageSize, DetectionFigures? Reported, string Description)
{
    /// <summary>Builds the variant (ImageSize defaults to the entry's).</summary>
    public MaskRcnn Create(ModelOptions options) => new(Config, options with { ImageSize = options.ImageSize ?? ImageSize });

    /// <summary>The backbone's zoo entry.</summary>
    public ModelEntry BackboneEntry => ModelZoo.Get(Config.Backbone);

    /// <summary>Whether this is a small-image variant (canvases, not COCO).</summary>
    public bool Small => ImageSize < 224;
}

/// <summary>
/// The Mask R-CNN variants by name (docs/detection.md §8), with the COCO figures of VMamba's README/Table 2 and vGamba's
/// Table 4 beside them. <c>DetectionZoo.Create("maskrcnn_vmamba_tiny_s1l8", 80)</c>.
/// </summary>
public static class DetectionZoo
{
    const string VMambaReadme = "MzeroMiko/VMamba README (detection)";
    const string VMambaT2 = "VMamba paper Table 2";
    const string VGambaT4 = "vGamba paper Table 4";

    static readonly string[] DropVMambaClassifier = ["classifier"];

    static MaskRcnnConfig Hierarchical(string backbone, bool outNorms) =>
        new(backbone, [0, 1, 2, 3], OutNorms: outNorms, DropChildren: outNorms ? DropVMambaClassifier : null);

    /// <summary>
    /// The small-image head: FPN/RPN 64 wide, 256-wide box FCs, two 64-wide mask convs, RoI level rule at 28 px (boxes
    /// under 56 px read the finest level). Anchors stay 8 × stride, so with a stride-2 first level they are 16, 32, 64,
    /// 128, 256 px (objects of 28–64 px on 128² canvases get anchors within 2× of their size). Training: 1000 proposals
    /// per level before NMS, 500 after, 128 RPN and 128 RoI samples per image (fewer proposals and 64 RoI samples lost
    /// accuracy A/Bs). Test: canvases hold 2–4 objects, so 300 per level before NMS, 100 after and at most 20 detections
    /// per image (the mask head and pasting run on every kept detection), which cuts the evaluation's prediction by
    /// about 60 % at the same AP (docs/detection.md §10).
    /// </summary>
    public static MaskRcnnConfig SmallHead(MaskRcnnConfig c) => c with
    {
        FpnChannels = 64, RpnChannels = 64, BoxFcChannels = 256, MaskChannels = 64, MaskConvs = 2, FinestScale = 28,
        RpnSamples = 128, RpnPreNmsTrain = 1000, RpnPreNmsTest = 300, RpnProposalsTrain = 500, RpnProposalsTest = 100, RoiSamples = 128,
        MaxDetections = 20,
    };

    static readonly DetectionEntry[] All =
    [
        // VMamba detection/configs/vssm1/mask_rcnn_vssm_fpn_coco_{tiny,small,base}.py: Backbone_VSSM (ln2d out norms,
        // classifier deleted) under mmdet's Swin-T Mask R-CNN 1× config.
        new("maskrcnn_vmamba_tiny_s1l8", Hierarchical("vmamba_tiny_s1l8", true), 1280, new(50, 271, 47.3, 42.7, VMambaReadme),
            "Mask R-CNN + FPN on VMamba-T [s1l8] (the README's T)"),
        new("maskrcnn_vmamba_small_s2l15", Hierarchical("vmamba_small_s2l15", true), 1280, new(70, 349, 48.7, 43.7, VMambaReadme),
            "Mask R-CNN + FPN on VMamba-S [s2l15]"),
        new("maskrcnn_vmamba_base_s2l15", Hierarchical("vmamba_base_s2l15", true), 1280, new(108, 485, 49.2, 44.1, VMambaReadme),
            "Mask R-CNN + FPN on VMamba-B [s2l15]"),
        // mmdet configs/_base_/models/mask-rcnn_r50_fpn.py (mmdet's ResNet: no fc; torchvision layout, docs/detection.md §8).
        new("maskrcnn_resnet50", Hierarchical("resnet50", false), 1280, new(44, 260, 38.2, 34.7, VMambaT2), "Mask R-CNN + FPN on ResNet-50"),
        // vGamba's positional and register parameters grow with the square of the side it is built for (about 0.9 G
        // parameters at 1280²), so these are built for 512² inputs as the segmentation variant; docs/detection.md §8.
        new("maskrcnn_vgamba_b", Hierarchical("vgamba_b", false), 512, new(49, 225, 44.9, 42.0, VGambaT4),
            "Mask R-CNN + FPN on vGamba-B (faithful to model.py; built for 512² inputs, its positional parameters depend on the side)"),
        new("maskrcnn_vgamba_l", Hierarchical("vgamba_l", false), 512, new(71, 254, 49.8, 45.3, VGambaT4),
            "Mask R-CNN + FPN on vGamba-L (built for 512² inputs)"),
        // Small images: canvases of 128² (objects of 28–64 px). vmamba_nano's stride-2 stem gives levels at 2/4/8/16.
        new("maskrcnn_vmamba_nano", SmallHead(Hierarchical("vmamba_nano", true)) with { DropPathRate = 0.0 }, 128, null,
            "small-image Mask R-CNN: vmamba_nano + out norms, FPN 64, box FCs 256, 2 mask convs; for 128² canvases"),
    ];

    static readonly Dictionary<string, DetectionEntry> ByName = All.ToDictionary(e => e.Name, StringComparer.Ordinal);

    public static IReadOnlyList<DetectionEntry> Entries => All;
    public static IReadOnlyList<string> Names => All.Select(e => e.Name).ToList();

    public static DetectionEntry Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (ByName.TryGetValue(name, out var e)) return e;
        throw new ArgumentException($"Unknown detection model '{name}'. Known: {string.Join(", ", Names)}.", nameof(name));
    }

    public static MaskRcnn Create(string name, int numClasses = 80, int? imageSize = null, int inChannels = 3) =>
        Get(name).Create(new ModelOptions(numClasses, inChannels, imageSize));

    public static MaskRcnn Create(string name, ModelOptions options) => Get(name).Create(options);
}
