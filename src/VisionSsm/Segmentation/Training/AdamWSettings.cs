namespace VisionSsm.Segmentation.Training;

/// <summary>
/// What <see cref="SegmentationOptimizer"/> needs from a recipe (segmentation or detection): AdamW's hyper-parameters,
/// the no-decay keys (mmseg/mmdet <c>paramwise_cfg.custom_keys</c> with decay_mult 0; null = the classification rule:
/// 1-D parameters, biases, position embeddings, class token, D), the layer-wise lr decay rate (null = off) and the lr
/// multiplier of the backbone's parameters (mmseg <c>paramwise_cfg.custom_keys={'backbone': dict(lr_mult=...)}</c>; 1 = off).
/// </summary>
public sealed record AdamWSettings(double Lr, double WeightDecay, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8,
    string[]? NoDecayKeys = null, double? LayerDecay = null, double BackboneLrMult = 1.0);
