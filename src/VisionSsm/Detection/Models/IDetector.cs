using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Models;

/// <summary>
/// Where one image sits in a padded batch: the valid region (<see cref="Height"/>×<see cref="Width"/>, top-left
/// aligned, after resizing) and the size of the image as read from disk, so boxes and masks can be mapped back
/// (mmdetection's <c>img_shape</c>, <c>ori_shape</c> and <c>scale_factor</c>).
/// </summary>
public sealed record ImageMeta(int Height, int Width, int OriginalHeight, int OriginalWidth)
{
    public double ScaleX => (double)Width / OriginalWidth;
    public double ScaleY => (double)Height / OriginalHeight;
}

/// <summary>
/// Ground truth of one image in the batch tensor's pixel frame: boxes [n, 4] (x1, y1, x2, y2, float32), labels [n]
/// (int64, contiguous 0..C−1), optional instance masks [n, Height, Width] (uint8 0/1, the valid region of the batch
/// image) and crowd boxes [m, 4] the assigners ignore. n may be 0.
/// </summary>
public sealed record DetectionTarget(Tensor Boxes, Tensor Labels, Tensor? Masks = null, Tensor? IgnoredBoxes = null);

/// <summary>
/// Detections of one image in the original image's pixels: boxes [k, 4] (x1, y1, x2, y2), scores [k], labels [k]
/// (int64, contiguous), masks [k, OriginalHeight, OriginalWidth] (bool) when the detector predicts masks.
/// </summary>
public sealed record Detections(Tensor Boxes, Tensor Scores, Tensor Labels, Tensor? Masks);

/// <summary>
/// The one API every detector speaks (Mask R-CNN and its variants), so the trainer, evaluator and CLI never
/// special-case a model. A detector is a <see cref="nn.Module"/>: parameters, state dict (mmdetection names:
/// <c>backbone.*</c>, <c>neck.*</c>, <c>rpn_head.*</c>, <c>roi_head.*</c>), train/eval mode and device come from it.
/// </summary>
public interface IDetector
{
    /// <summary>Number of object classes (background excluded).</summary>
    int NumClasses { get; }

    /// <summary>Whether <see cref="Predict"/> returns instance masks.</summary>
    bool PredictsMasks { get; }

    /// <summary>The detector as a module (parameters, state dict, train/eval, to(device)).</summary>
    nn.Module Module { get; }

    /// <summary>
    /// Training losses of a batch [B, 3, H, W] (H, W padded to the size divisor) as named scalars, mmdetection's
    /// names: <c>loss_rpn_cls</c>, <c>loss_rpn_bbox</c>, <c>loss_cls</c>, <c>loss_bbox</c>, <c>loss_mask</c>. The
    /// total to minimise is their sum.
    /// </summary>
    IReadOnlyDictionary<string, Tensor> Losses(Tensor images, IReadOnlyList<ImageMeta> metas, IReadOnlyList<DetectionTarget> targets);

    /// <summary>Detections of a batch after post-processing (score threshold, class-wise NMS, at most N per image).</summary>
    IReadOnlyList<Detections> Predict(Tensor images, IReadOnlyList<ImageMeta> metas);
}
