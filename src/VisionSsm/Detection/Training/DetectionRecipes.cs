namespace VisionSsm.Detection.Training;

/// <summary>
/// Detection recipes (<c>--recipe NAME</c>; docs/detection.md §10). Each sets the model, data scale and
/// optimiser/schedule fields; explicit options given with it override them.
/// </summary>
public static class DetectionRecipes
{
    /// <summary>
    /// mmdetection's Mask R-CNN 1× (<c>configs/swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py</c>, which VMamba's
    /// <c>detection/configs/vssm1</c> inherit): AdamW lr 1e-4, β (0.9, 0.999), wd 0.05; LinearLR warmup 500
    /// iterations from 0.001·lr; MultiStepLR ×0.1 at epochs 8 and 11 of 12; batch 16 (8 GPUs × 2); keep-ratio resize to
    /// (1333, 800), flip 0.5, pad to 32. mmdet's config exempts names with <c>norm</c>, <c>absolute_pos_embed</c>,
    /// <c>relative_position_bias_table</c> from decay; we exempt 1-D parameters (every norm) and biases, the rule the
    /// segmentation recipes use without keys.
    /// </summary>
    public static DetectionTrainConfig MaskRcnn1x(string model) => new()
    {
        Model = model, Epochs = 12, BatchSize = 16, Lr = 1e-4, WeightDecay = 0.05, WarmupIters = 500, WarmupRatio = 0.001,
        Milestones = [8, 11], Gamma = 0.1, ClipGrad = 0, ScaleLong = 1333, ScaleShort = [800], FlipProbability = 0.5, EvalInterval = 1,
        BoxPolicy = Coco.BoxPolicy.Clip,
    };

    public static readonly IReadOnlyDictionary<string, DetectionTrainConfig> All = new Dictionary<string, DetectionTrainConfig>(StringComparer.Ordinal)
    {
        ["maskrcnn-1x"] = MaskRcnn1x("maskrcnn_vmamba_tiny_s1l8"),
        // The 1× recipe with mmdet's multi-scale training scales (short side 480…800 step 32, long 1333); VMamba's 3×
        // configs train so, 36 epochs with steps at 27 and 33.
        ["maskrcnn-3x-ms"] = MaskRcnn1x("maskrcnn_vmamba_tiny_s1l8") with
        {
            Epochs = 36, Milestones = [27, 33], ScaleShort = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800],
        },
    };

    public static DetectionTrainConfig Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (All.TryGetValue(name, out var r)) return r with { Recipe = name };
        throw new ArgumentException($"--recipe '{name}': unknown; known recipes: {string.Join(", ", All.Keys)}.", "recipe");
    }
}
