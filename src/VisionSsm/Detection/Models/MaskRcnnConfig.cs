namespace VisionSsm.Detection.Models;

/// <summary>
/// One Mask R-CNN variant (docs/detection.md §6): the zoo backbone and the levels the FPN reads, the widths of the FPN and
/// heads, the anchors, the samplers and assigners of training, and the test-time thresholds. The defaults are mmdetection's
/// <c>configs/_base_/models/mask-rcnn_r50_fpn.py</c> (the base of <c>configs/swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py</c>
/// that VMamba's and vGamba's detection configs inherit); a small-image variant is the same record with other numbers.
/// Anchor strides and RoIAlign strides are not configured: they are the FPN levels' reductions (plus twice the last for
/// the extra RPN level).
/// </summary>
/// <param name="Backbone">Zoo name of the backbone.</param>
/// <param name="FeatureIndices">Backbone FeatureInfo levels fed to the FPN, finest first.</param>
/// <param name="OutNorms">LayerNorm2d <c>outnorm{i}</c> per level (VMamba's <c>Backbone_VSSM</c>).</param>
/// <param name="Pyramid">Vim's deconvolution pyramid for plain (same-stride) backbones.</param>
/// <param name="DropChildren">Backbone children removed (the classifier pieces a detection checkpoint lacks).</param>
/// <param name="DropPathRate">Backbone drop path of the detection recipe (null = the classification variant's).</param>
/// <param name="FpnChannels">FPN output width (256).</param>
/// <param name="RpnChannels">RPN 3×3 conv width (<c>feat_channels</c>, 256).</param>
/// <param name="BoxFcChannels">Width of the two shared FCs of the box head (1024).</param>
/// <param name="MaskChannels">Width of the mask head's convs and deconv (256).</param>
/// <param name="MaskConvs">Number of 3×3 convs of the mask head (4).</param>
/// <param name="AnchorScales">Anchor side / stride (8: 32 px at stride 4).</param>
/// <param name="AnchorRatios">Anchor h/w ratios (0.5, 1, 2).</param>
/// <param name="FinestScale">RoI level rule's canonical size (56: boxes under 112 px read the finest level).</param>
public sealed record MaskRcnnConfig(
    string Backbone,
    int[] FeatureIndices,
    bool OutNorms = false,
    bool Pyramid = false,
    string[]? DropChildren = null,
    double? DropPathRate = null,
    int FpnChannels = 256,
    int RpnChannels = 256,
    int BoxFcChannels = 1024,
    int MaskChannels = 256,
    int MaskConvs = 4,
    double[]? AnchorScales = null,
    double[]? AnchorRatios = null,
    double FinestScale = 56,
    // RPN training: MaxIoUAssigner(0.7, 0.3, min_pos 0.3, low-quality matches) and RandomSampler(256, 0.5).
    double RpnPositiveIou = 0.7,
    double RpnNegativeIou = 0.3,
    double RpnMinPositiveIou = 0.3,
    int RpnSamples = 256,
    double RpnPositiveFraction = 0.5,
    // Proposals (rpn_proposal / test_cfg.rpn): top-k per level before NMS, NMS IoU, proposals kept per image.
    int RpnPreNmsTrain = 2000,
    int RpnPreNmsTest = 1000,
    double RpnNmsIou = 0.7,
    int RpnProposalsTrain = 1000,
    int RpnProposalsTest = 1000,
    // R-CNN training: MaxIoUAssigner(0.5, 0.5, min_pos 0.5, low-quality matches), RandomSampler(512, 0.25), gt added.
    double RoiPositiveIou = 0.5,
    double RoiNegativeIou = 0.5,
    double RoiMinPositiveIou = 0.5,
    int RoiSamples = 512,
    double RoiPositiveFraction = 0.25,
    int BoxRoiSize = 7,
    int MaskRoiSize = 14,
    // test_cfg.rcnn.
    double ScoreThreshold = 0.05,
    double NmsIou = 0.5,
    int MaxDetections = 100,
    double MaskThreshold = 0.5,
    bool WithMask = true)
{
    public IReadOnlyList<double> Scales => AnchorScales ?? [8.0];
    public IReadOnlyList<double> Ratios => AnchorRatios ?? [0.5, 1.0, 2.0];

    /// <summary>Mask target side: twice the mask RoIAlign side (the deconv doubles it; 28).</summary>
    public int MaskSize => 2 * MaskRoiSize;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Backbone)) throw new ArgumentException("a backbone name is required.", nameof(Backbone));
        if (FeatureIndices is null || FeatureIndices.Length < 1) throw new ArgumentException("at least one feature level is required.", nameof(FeatureIndices));
        foreach (var (v, n) in new[] { (FpnChannels, nameof(FpnChannels)), (RpnChannels, nameof(RpnChannels)), (BoxFcChannels, nameof(BoxFcChannels)),
                     (MaskChannels, nameof(MaskChannels)), (RpnSamples, nameof(RpnSamples)), (RoiSamples, nameof(RoiSamples)), (BoxRoiSize, nameof(BoxRoiSize)),
                     (MaskRoiSize, nameof(MaskRoiSize)), (RpnPreNmsTrain, nameof(RpnPreNmsTrain)), (RpnPreNmsTest, nameof(RpnPreNmsTest)),
                     (RpnProposalsTrain, nameof(RpnProposalsTrain)), (RpnProposalsTest, nameof(RpnProposalsTest)), (MaxDetections, nameof(MaxDetections)) })
            if (v < 1) throw new ArgumentOutOfRangeException(n, v, "expected ≥ 1.");
        if (MaskConvs < 0) throw new ArgumentOutOfRangeException(nameof(MaskConvs), MaskConvs, "expected ≥ 0.");
        foreach (var (v, n) in new[] { (RpnPositiveFraction, nameof(RpnPositiveFraction)), (RoiPositiveFraction, nameof(RoiPositiveFraction)),
                     (ScoreThreshold, nameof(ScoreThreshold)), (NmsIou, nameof(NmsIou)), (RpnNmsIou, nameof(RpnNmsIou)), (MaskThreshold, nameof(MaskThreshold)),
                     (RpnPositiveIou, nameof(RpnPositiveIou)), (RpnNegativeIou, nameof(RpnNegativeIou)), (RoiPositiveIou, nameof(RoiPositiveIou)),
                     (RoiNegativeIou, nameof(RoiNegativeIou)) })
            if (!(v >= 0 && v <= 1)) throw new ArgumentOutOfRangeException(n, v, "expected a value in [0, 1].");
        if (RpnNegativeIou > RpnPositiveIou) throw new ArgumentException($"RpnNegativeIou ({RpnNegativeIou}) must not exceed RpnPositiveIou ({RpnPositiveIou}).", nameof(RpnNegativeIou));
        if (RoiNegativeIou > RoiPositiveIou) throw new ArgumentException($"RoiNegativeIou ({RoiNegativeIou}) must not exceed RoiPositiveIou ({RoiPositiveIou}).", nameof(RoiNegativeIou));
        if (!(FinestScale > 0)) throw new ArgumentOutOfRangeException(nameof(FinestScale), FinestScale, "expected > 0.");
    }
}
