using VisionSsm.Analysis;
using VisionSsm.Models;

namespace VisionSsm.Detection.Models;

/// <summary>
/// FLOPs of a Mask R-CNN inference pass as VMamba's detection FLOP script counts them (<c>analyze/utils.py</c>
/// <c>mmdet_flops</c>: mmengine's fvcore-style analyzer on mmdet's tensor-mode forward of a (3, 1280, 800) input):
/// backbone, FPN, the RPN head on all five levels, the box head on the RPN's 1000 proposals and the mask head on the
/// first 100 of them (mmdet's <c>StandardRoIHead.forward</c>). One fused multiply-add is one FLOP; RoIAlign, NMS,
/// max-pooling, the top-down additions and the nearest upsampling are not counted (custom or uncounted ops there;
/// the upsampling would add about 0.02 G). See <see cref="MaskRcnn.forward"/>.
/// </summary>
public static class DetectionFlops
{
    /// <summary>Counts one forward pass of a (1, C, <paramref name="height"/>, <paramref name="width"/>) input (H = 1280, W = 800 by default).</summary>
    public static FlopReport Count(MaskRcnn model, int height = 1280, int width = 800, FlopConvention convention = FlopConvention.Fvcore)
    {
        ArgumentNullException.ThrowIfNull(model);
        return FlopCounter.Count(model, [1, model.InChannels, height, width], convention);
    }
}
