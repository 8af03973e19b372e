using VisionSsm.Analysis;
using VisionSsm.Models;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// FLOPs of a UperNet forward (mmseg's <c>_forward</c>: backbone, neck and decode head; the auxiliary head is not run at
/// inference, and the final resize to the input is outside it) under a FLOP convention (VMamba's Table 3 uses fvcore's
/// rules plus the scan formula, <see cref="FlopConvention.Fvcore"/>). The bilinear resizes inside the head are functional
/// and not counted (mmengine charges 4 per output element: about 0.4 G at 512×2048, 0.05 %; docs/segmentation.md §3).
/// </summary>
public static class SegmentationFlops
{
    /// <summary>Counts one forward pass of a (B=1, C, <paramref name="height"/>, <paramref name="width"/>) input.</summary>
    public static FlopReport Count(SegmentationModel model, int height, int width, FlopConvention convention = FlopConvention.Fvcore) =>
        FlopCounter.Count(model, [1, model.InChannels, height, width], convention);

    /// <summary>
    /// The count at <paramref name="height"/>×<paramref name="width"/> from two smaller inputs of the same aspect ratio
    /// (1/8 and 1/4 of each side): every counted layer's FLOPs are an affine function of the pixel count when all sides stay
    /// divisible by the total stride (convs, norms, pools and the scan are linear in it; the PPM branch convs on their
    /// fixed 1²…6² grids are the constant), so the line through two counts gives the exact figure without running the
    /// full-size forward. Sides must be multiples of 8·32.
    /// </summary>
    public static double ExtrapolatedGFlops(SegmentationModel model, int height, int width, FlopConvention convention = FlopConvention.Fvcore)
    {
        if (height % 256 != 0 || width % 256 != 0)
            throw new ArgumentException($"extrapolation needs sides divisible by 256 (8 × the stride 32); got {height}×{width}.", nameof(height));
        double p1 = (double)height * width / 64, p2 = (double)height * width / 16, p3 = (double)height * width;
        double f1 = Count(model, height / 8, width / 8, convention).GFlops;
        double f2 = Count(model, height / 4, width / 4, convention).GFlops;
        return f2 + (f2 - f1) * (p3 - p2) / (p2 - p1);
    }
}
