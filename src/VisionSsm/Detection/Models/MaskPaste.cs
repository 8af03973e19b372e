using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Detection.Models;

/// <summary>
/// Pastes per-box mask probabilities (k, S, S) into full images, as mmdetection's <c>_do_paste_mask</c>
/// (<c>mmdet/models/roi_heads/mask_heads/fcn_mask_head.py</c>): the mask is stretched over its box by bilinear
/// <c>grid_sample</c> (align_corners false, zeros outside) read at the pixel centres (x + 0.5, y + 0.5), then
/// thresholded (≥ threshold). Only the pixels around each box are sampled (mmdet's CPU path does the same).
/// </summary>
public static class MaskPaste
{
    /// <summary>Bool masks (k, <paramref name="height"/>, <paramref name="width"/>) of <paramref name="probs"/> (k, S, S) over <paramref name="boxes"/> (k, 4).</summary>
    public static Tensor Paste(Tensor probs, Tensor boxes, int height, int width, double threshold)
    {
        if (probs.dim() != 3 || boxes.dim() != 2 || boxes.shape[1] != 4 || boxes.shape[0] != probs.shape[0])
            throw new ArgumentException($"expected probs (k, S, S) and boxes (k, 4); got [{string.Join(", ", probs.shape)}] and [{string.Join(", ", boxes.shape)}].", nameof(probs));
        using var scope = NewDisposeScope();
        long k = probs.shape[0];
        var result = zeros(new long[] { k, height, width }, dtype: ScalarType.Bool, device: probs.device);
        var b = HostArrays.Doubles(boxes);
        using var thr = threshold.ToScalar();
        for (int i = 0; i < k; i++)
        {
            double x0 = b[4 * i], y0 = b[4 * i + 1], x1 = b[4 * i + 2], y1 = b[4 * i + 3];
            int ix0 = Math.Clamp((int)Math.Floor(x0) - 1, 0, width), iy0 = Math.Clamp((int)Math.Floor(y0) - 1, 0, height);
            int ix1 = Math.Clamp((int)Math.Ceiling(x1) + 1, 0, width), iy1 = Math.Clamp((int)Math.Ceiling(y1) + 1, 0, height);
            if (ix1 <= ix0 || iy1 <= iy0 || !(x1 > x0) || !(y1 > y0)) continue;
            var gx = arange(ix0, ix1, dtype: probs.dtype, device: probs.device).PlusScalar(0.5 - x0).Over((x1 - x0) / 2).PlusScalar(-1);
            var gy = arange(iy0, iy1, dtype: probs.dtype, device: probs.device).PlusScalar(0.5 - y0).Over((y1 - y0) / 2).PlusScalar(-1);
            var grid = stack([gx.unsqueeze(0).expand(gy.shape[0], -1), gy.unsqueeze(1).expand(-1, gx.shape[0])], -1).unsqueeze(0);
            var sampled = functional.grid_sample(probs[i].unsqueeze(0).unsqueeze(0), grid, mode: GridSampleMode.Bilinear,
                padding_mode: GridSamplePaddingMode.Zeros, align_corners: false);
            result[i].narrow(0, iy0, iy1 - iy0).narrow(1, ix0, ix1 - ix0).copy_(sampled[0, 0].ge(thr));
        }
        return result.MoveToOuterDisposeScope();
    }
}
