using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Boxes;

/// <summary>
/// mmdetection's <c>DeltaXYWHBBoxCoder</c> (<c>mmdet/models/task_modules/coders/delta_xywh_bbox_coder.py</c>; the
/// R-CNN parameterisation of Girshick et al., Fast R-CNN Eq. 2 / Faster R-CNN Eq. 2):
/// <c>dx = (gx − px)/pw, dy = (gy − py)/ph, dw = log(gw/pw), dh = log(gh/ph)</c>, then <c>(d − means)/stds</c>.
/// Centres and sizes use no "+1" (mmdetection v2 and later). Decoding clamps dw, dh to ±|log(whRatioClip)| (16/1000:
/// a box grows or shrinks at most 62.5×) and, when an image shape is given, clips x to [0, W] and y to [0, H].
/// </summary>
public sealed class DeltaXywhCoder
{
    public IReadOnlyList<double> Means { get; }
    public IReadOnlyList<double> Stds { get; }
    public double WhRatioClip { get; }

    /// <summary>RPN: means 0, stds 1 (mmdetection's <c>rpn_head.bbox_coder</c>).</summary>
    public static DeltaXywhCoder Rpn => new([0, 0, 0, 0], [1, 1, 1, 1]);

    /// <summary>R-CNN box head: means 0, stds (0.1, 0.1, 0.2, 0.2) (mmdetection's <c>roi_head.bbox_head.bbox_coder</c>).</summary>
    public static DeltaXywhCoder Rcnn => new([0, 0, 0, 0], [0.1, 0.1, 0.2, 0.2]);

    public DeltaXywhCoder(IReadOnlyList<double> means, IReadOnlyList<double> stds, double whRatioClip = 16.0 / 1000)
    {
        if (means.Count != 4) throw new ArgumentException($"means must have 4 values, got {means.Count}", nameof(means));
        if (stds.Count != 4 || stds.Any(s => !(s > 0)))
            throw new ArgumentException($"stds must be 4 positive values, got [{string.Join(", ", stds)}]", nameof(stds));
        if (!(whRatioClip > 0 && whRatioClip < 1))
            throw new ArgumentOutOfRangeException(nameof(whRatioClip), $"whRatioClip must be in (0, 1), got {whRatioClip}");
        Means = means.ToArray(); Stds = stds.ToArray(); WhRatioClip = whRatioClip;
    }

    /// <summary>Regression targets (N, 4) that move <paramref name="proposals"/> (N, 4) onto <paramref name="targets"/> (N, 4).</summary>
    public Tensor Encode(Tensor proposals, Tensor targets)
    {
        BoxOps.CheckBoxes(proposals, nameof(proposals));
        BoxOps.CheckBoxes(targets, nameof(targets));
        if (proposals.shape[0] != targets.shape[0])
            throw new ArgumentException($"proposals ({proposals.shape[0]}) and targets ({targets.shape[0]}) must have the same count", nameof(targets));
        using var scope = NewDisposeScope();
        var (px, py, pw, ph) = CentreSize(proposals);
        var (gx, gy, gw, gh) = CentreSize(targets);
        var d = stack([(gx - px) / pw, (gy - py) / ph, (gw / pw).log(), (gh / ph).log()], -1);
        var (means, stds) = Constants(d);
        return ((d - means) / stds).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Boxes (N, 4k) from <paramref name="rois"/> (N, 4) and <paramref name="deltas"/> (N, 4k) (k classes side by side);
    /// clipped to an image of <paramref name="imageHeight"/> × <paramref name="imageWidth"/> when both are given.
    /// </summary>
    public Tensor Decode(Tensor rois, Tensor deltas, double? imageHeight = null, double? imageWidth = null)
    {
        BoxOps.CheckBoxes(rois, nameof(rois));
        if (deltas.dim() != 2 || deltas.shape[0] != rois.shape[0] || deltas.shape[1] % 4 != 0 || deltas.shape[1] == 0)
            throw new ArgumentException($"deltas must be (N, 4k) with N = {rois.shape[0]}, got shape [{string.Join(", ", deltas.shape)}]", nameof(deltas));
        if (imageHeight.HasValue != imageWidth.HasValue)
            throw new ArgumentException("give both image height and width, or neither", nameof(imageWidth));
        using var scope = NewDisposeScope();
        long n = rois.shape[0], k = deltas.shape[1] / 4;
        var d = deltas.view(n, k, 4);
        var (means, stds) = Constants(d);
        d = (d * stds).add(means, Scalars.One);
        var pxy = rois[.., ..2].add(rois[.., 2..], Scalars.One).Times(0.5).unsqueeze(1);
        var pwh = (rois[.., 2..] - rois[.., ..2]).unsqueeze(1);
        double maxRatio = Math.Abs(Math.Log(WhRatioClip));
        using var lo = (-maxRatio).ToScalar();
        using var hi = maxRatio.ToScalar();
        var dwh = d[.., .., 2..].clamp(lo, hi);
        var gxy = pxy.add(pwh * d[.., .., ..2], Scalars.One);
        var half = (pwh * dwh.exp()).Times(0.5);
        var boxes = cat([gxy - half, gxy.add(half, Scalars.One)], -1).view(n, 4 * k);
        if (imageHeight is double h && imageWidth is double w)
            boxes = BoxOps.Clip(boxes.view(n * k, 4), h, w).view(n, 4 * k);
        return boxes.MoveToOuterDisposeScope();
    }

    static (Tensor X, Tensor Y, Tensor W, Tensor H) CentreSize(Tensor b)
    {
        var x = b[.., 0].add(b[.., 2], Scalars.One).Times(0.5);
        var y = b[.., 1].add(b[.., 3], Scalars.One).Times(0.5);
        return (x, y, b[.., 2] - b[.., 0], b[.., 3] - b[.., 1]);
    }

    (Tensor Means, Tensor Stds) Constants(Tensor like) =>
        (tensor(Means.ToArray(), dtype: like.dtype, device: like.device), tensor(Stds.ToArray(), dtype: like.dtype, device: like.device));
}
