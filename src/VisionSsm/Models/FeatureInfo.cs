namespace VisionSsm.Models;

/// <summary>
/// One feature map <see cref="IVisionModel.ForwardIntermediates"/> can return (timm <c>feature_info</c>): its index,
/// channels, reduction (input side / map side, rounded up for odd sizes) and the module that produces it.
/// </summary>
public sealed record FeatureInfo(int Index, int Channels, int Reduction, string Module);
