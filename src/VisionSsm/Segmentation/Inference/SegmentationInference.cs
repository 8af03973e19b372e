using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Inference;

/// <summary>
/// Runs a segmentation model, given as <c>Func&lt;Tensor, Tensor&gt;</c> from an image batch (B, C, H, W) to class
/// logits (B, K, h, w) at any resolution, over whole images or sliding windows, with optional multi-scale and flip
/// test-time augmentation, as mmseg's <c>EncoderDecoder.inference</c> and TTA do (docs/segmentation-data.md §5).
/// Model outputs are resized to their input's size bilinearly with align_corners = false. Images arrive already
/// normalised; call under <c>torch.no_grad()</c> (<see cref="Predict"/> sets it itself).
/// </summary>
public static class SegmentationInference
{
    /// <summary>Logits at the input's resolution: <c>model(images)</c>, resized to (H, W).</summary>
    public static Tensor Whole(Func<Tensor, Tensor> model, Tensor images)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        var logits = model(images);
        CheckLogits(logits, images);
        return Resize(logits, images.shape[2], images.shape[3]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// mmseg's <c>slide_inference</c>: windows of <paramref name="cropH"/>×<paramref name="cropW"/> every
    /// (<paramref name="strideH"/>, <paramref name="strideW"/>) pixels, ⌈(H − crop) / stride⌉ + 1 rows of them (likewise
    /// columns), the last row/column shifted back to end at the border; a window larger than the image shrinks to it.
    /// Each window's logits (resized to the window) are summed into place and the sum divided by how many windows
    /// covered each pixel.
    /// </summary>
    public static Tensor Slide(Func<Tensor, Tensor> model, Tensor images, int cropH, int cropW, int strideH, int strideW)
    {
        CheckImages(images);
        if (cropH <= 0 || cropW <= 0 || strideH <= 0 || strideW <= 0)
            throw new ArgumentOutOfRangeException(nameof(cropH), $"crop {cropH}×{cropW} and stride {strideH}×{strideW} must be positive.");
        using var scope = NewDisposeScope();
        long b = images.shape[0], h = images.shape[2], w = images.shape[3];
        long rows = Math.Max(h - cropH + strideH - 1, 0) / strideH + 1, cols = Math.Max(w - cropW + strideW - 1, 0) / strideW + 1;
        Tensor? sum = null;
        var count = zeros([1, 1, h, w], images.dtype, images.device);
        for (long r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++)
        {
            long y2 = Math.Min(r * strideH + cropH, h), x2 = Math.Min(c * strideW + cropW, w);
            long y1 = Math.Max(y2 - cropH, 0), x1 = Math.Max(x2 - cropW, 0);
            using var inner = NewDisposeScope();
            var crop = images.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1);
            var logits = model(crop);
            CheckLogits(logits, crop);
            logits = Resize(logits, y2 - y1, x2 - x1);
            if (sum is null)
            {
                sum = zeros([b, logits.shape[1], h, w], logits.dtype, logits.device);
                sum.MoveToOuterDisposeScope();
            }
            else if (logits.shape[1] != sum.shape[1])
                throw new InvalidOperationException($"the model returned {logits.shape[1]} classes for one window and {sum.shape[1]} for another.");
            sum.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(logits, Scalars.One);
            count.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(Scalars.One, Scalars.One);
        }
        return sum!.div_(count.to(sum.dtype).to(sum.device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Class scores (B, K, H, W) at the input's resolution. Without augmentation: the logits of
    /// <see cref="Whole"/> or <see cref="Slide"/>. With augmentation: for every scale ratio r the batch is resized
    /// bilinearly to (⌊H·r + ½⌋, ⌊W·r + ½⌋) (mmcv's rescale by a factor), optionally also mirrored, run, resized back to
    /// (H, W), mirrored back, and turned into probabilities by a softmax over classes; the scores are the mean
    /// probability over all views (mmseg's <c>SegTTAModel.merge_preds</c> and the older <c>aug_test</c> both average
    /// softmax outputs). The argmax over classes is the predicted label either way.
    /// </summary>
    public static Tensor Predict(Func<Tensor, Tensor> model, Tensor images, InferenceOptions? options = null)
    {
        options ??= new InferenceOptions();
        options.Validate();
        CheckImages(images);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor Run(Tensor x) => options.Mode == InferenceMode.Whole ? Whole(model, x)
            : Slide(model, x, options.CropHeight, options.CropWidth, options.StrideHeight, options.StrideWidth);
        if (!options.IsAugmented) return Run(images).MoveToOuterDisposeScope();
        long h = images.shape[2], w = images.shape[3];
        Tensor? sum = null;
        int views = 0;
        foreach (double r in options.Scales)
        {
            using var scaleScope = NewDisposeScope();   // frees each scale's resized batch before the next
            var scaled = r == 1.0 ? images : Resize(images, Math.Max(1, (long)(h * r + 0.5)), Math.Max(1, (long)(w * r + 0.5)));
            foreach (bool flip in options.Flip ? new[] { false, true } : [false])
            {
                using var inner = NewDisposeScope();
                var input = flip ? scaled.flip(3) : scaled;
                var logits = Resize(Run(input), h, w);
                if (flip) logits = logits.flip(3);
                var probs = logits.softmax(1);
                // The running sum belongs to this method's scope: two levels out (view scope → scale scope → here).
                if (sum is null) sum = probs.clone().MoveToOuterDisposeScope().MoveToOuterDisposeScope();
                else sum.add_(probs, Scalars.One);
                views++;
            }
        }
        return sum!.OverInPlace(views).MoveToOuterDisposeScope();
    }

    /// <summary>Predicted labels (B, H, W), uint8 (the class index with the highest score).</summary>
    public static Tensor Labels(Tensor scores) => scores.argmax(1).to(ScalarType.Byte);

    /// <summary>Bilinear resize of (B, C, h, w) to (B, C, height, width), align_corners = false; the input itself when the size already matches.</summary>
    public static Tensor Resize(Tensor x, long height, long width) =>
        x.shape[2] == height && x.shape[3] == width ? x
            : nn.functional.interpolate(x, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false);

    static void CheckImages(Tensor images)
    {
        if (images.dim() != 4 || images.shape[0] == 0 || images.shape[2] == 0 || images.shape[3] == 0)
            throw new ArgumentException($"images must be a non-empty (B, C, H, W) batch; got [{string.Join(", ", images.shape)}].", nameof(images));
        if (!images.is_floating_point()) throw new ArgumentException($"images must be floating point; got {images.dtype}.", nameof(images));
    }

    static void CheckLogits(Tensor logits, Tensor input)
    {
        if (logits.dim() != 4 || logits.shape[0] != input.shape[0] || logits.shape[1] < 1)
            throw new InvalidOperationException(
                $"the model returned logits of shape [{string.Join(", ", logits.shape)}] for input [{string.Join(", ", input.shape)}]; expected (B, classes, h, w) with the same B.");
    }
}
