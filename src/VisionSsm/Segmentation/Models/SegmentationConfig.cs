namespace VisionSsm.Segmentation.Models;

/// <summary>What turns the backbone's feature maps into the decode head's pyramid.</summary>
public enum SegmentationNeck
{
    /// <summary>The backbone's own levels (hierarchical backbones).</summary>
    None,
    /// <summary>Vim's deconvolution pyramid registered on the backbone (<see cref="PyramidNeck"/>).</summary>
    Pyramid,
    /// <summary>mmseg's multi-level neck (<see cref="MultiLevelNeck"/>), DeiT's "MLN".</summary>
    MultiLevel,
}

/// <summary>
/// One UperNet variant: the zoo backbone and which of its <c>FeatureInfo</c> levels feed the head, the per-level
/// output norms (<c>outnorm{i}</c>, VMamba's segmentation backbone), the neck, the head widths, and the backbone
/// children the segmentation backbone drops (the classifier's norm, as upstream deletes the classifier).
/// </summary>
/// <param name="Backbone">Zoo name of the backbone.</param>
/// <param name="FeatureIndices">Backbone levels fed to the neck/head, finest first.</param>
/// <param name="OutNorms">Add a LayerNorm2d <c>outnorm{i}</c> per level (VMamba <c>Backbone_VSSM</c>, norm_layer ln2d).</param>
/// <param name="Neck">How plain backbones get a pyramid.</param>
/// <param name="NeckChannels">Output width of the multi-level neck (the embedding width upstream).</param>
/// <param name="Channels">UPerHead width (512 in VMamba's/mmseg's configs; 384 for Vim-S, 192 for Vim-Ti).</param>
/// <param name="AuxChannels">FCN auxiliary head width (256); 0 = no auxiliary head.</param>
/// <param name="AuxIndex">Pyramid level the auxiliary head reads (2 = the 1/16 map).</param>
/// <param name="DropChildren">Backbone children removed for segmentation (keys that official segmentation checkpoints lack).</param>
/// <param name="DropPathRate">Backbone drop-path rate of the segmentation recipe (null = the classification variant's).</param>
public sealed record SegmentationConfig(string Backbone, int[] FeatureIndices, bool OutNorms = false, SegmentationNeck Neck = SegmentationNeck.None,
    int NeckChannels = 0, int Channels = 512, int AuxChannels = 256, int AuxIndex = 2, string[]? DropChildren = null, double? DropPathRate = null,
    double DropoutRatio = 0.1)
{
    /// <summary>Weight of the auxiliary loss (mmseg's FCNHead <c>loss_weight</c> in every UperNet config).</summary>
    public const double AuxLossWeight = 0.4;

    public void Validate()
    {
        if (FeatureIndices.Length != 4 && Neck != SegmentationNeck.None)
            throw new ArgumentException($"the {Neck} neck takes 4 levels; got {FeatureIndices.Length}.", nameof(FeatureIndices));
        if (FeatureIndices.Length < 2) throw new ArgumentException("UperNet needs at least 2 feature levels.", nameof(FeatureIndices));
        if (Channels < 1) throw new ArgumentOutOfRangeException(nameof(Channels), Channels, "expected ≥ 1.");
        if (AuxChannels < 0) throw new ArgumentOutOfRangeException(nameof(AuxChannels), AuxChannels, "expected ≥ 0 (0 = no auxiliary head).");
        if (AuxIndex < 0 || AuxIndex >= FeatureIndices.Length)
            throw new ArgumentOutOfRangeException(nameof(AuxIndex), AuxIndex, $"expected a level in 0..{FeatureIndices.Length - 1}.");
        if (Neck == SegmentationNeck.MultiLevel && NeckChannels < 1)
            throw new ArgumentOutOfRangeException(nameof(NeckChannels), NeckChannels, "the multi-level neck needs its output width.");
    }
}
