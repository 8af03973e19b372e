using TorchSharp;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// mmseg's decode/auxiliary loss: logits resized bilinearly (align_corners false) to the label map, pixel-wise cross
/// entropy with the ignore label 255 left out, averaged over all pixels (mmseg's <c>CrossEntropyLoss</c> with
/// <c>avg_non_ignore=False</c>: ignored pixels count in the denominator with loss 0); total = CE(main) + w·CE(aux).
/// </summary>
public static class SegmentationLoss
{
    /// <summary>Cross entropy of <paramref name="logits"/> (B, K, h, w) against <paramref name="masks"/> (B, H, W) int64.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor masks)
    {
        using var scope = NewDisposeScope();
        var resized = Resize.Bilinear(logits, masks.shape[1], masks.shape[2]);
        var perPixel = functional.cross_entropy(resized, masks, ignore_index: SegmentationLabels.IgnoreIndex, reduction: Reduction.None);
        return perPixel.mean().MoveToOuterDisposeScope();
    }

    /// <summary>CE(main) + <paramref name="auxWeight"/>·CE(aux) (aux absent: the main loss alone).</summary>
    public static Tensor Total(Tensor main, Tensor? aux, Tensor masks, double auxWeight)
    {
        using var scope = NewDisposeScope();
        var loss = CrossEntropy(main, masks);
        if (aux is not null && auxWeight > 0) loss = loss.Plus(CrossEntropy(aux, masks).Times(auxWeight));
        return loss.MoveToOuterDisposeScope();
    }
}
