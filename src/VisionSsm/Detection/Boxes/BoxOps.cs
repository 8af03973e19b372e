using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Boxes;

/// <summary>
/// Box arithmetic on (N, 4) tensors of corners <c>(x1, y1, x2, y2)</c> in pixels, with torchvision's conventions
/// (<c>ops/boxes.py</c>): width = x2 − x1 with no "+1", IoU = intersection / union.
/// </summary>
public static class BoxOps
{
    /// <summary>Areas (N) of corner boxes (N, 4).</summary>
    public static Tensor Area(Tensor boxes)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        return (boxes[.., 2] - boxes[.., 0]).mul(boxes[.., 3] - boxes[.., 1]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pairwise IoU (N, M) of <paramref name="a"/> (N, 4) and <paramref name="b"/> (M, 4), as torchvision's
    /// <c>box_iou</c>: 0/0 (two empty boxes) gives NaN, which no threshold test passes.
    /// </summary>
    public static Tensor PairwiseIou(Tensor a, Tensor b)
    {
        CheckBoxes(a, nameof(a));
        CheckBoxes(b, nameof(b));
        using var scope = NewDisposeScope();
        var areaA = Area(a).unsqueeze(1);
        var areaB = Area(b).unsqueeze(0);
        var lt = maximum(a[.., TensorIndex.None, ..2], b[TensorIndex.None, .., ..2]);
        var rb = minimum(a[.., TensorIndex.None, 2..], b[TensorIndex.None, .., 2..]);
        var wh = (rb - lt).clamp_min(Scalars.Zero);
        var inter = wh[.., .., 0].mul(wh[.., .., 1]);
        var union = areaA.add(areaB, Scalars.One).sub(inter);
        return inter.div(union).MoveToOuterDisposeScope();
    }

    /// <summary>(x, y, w, h) → (x1, y1, x2, y2).</summary>
    public static Tensor XywhToXyxy(Tensor boxes)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var xy = boxes[.., ..2];
        return cat([xy, xy.add(boxes[.., 2..], Scalars.One)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>(x1, y1, x2, y2) → (x, y, w, h).</summary>
    public static Tensor XyxyToXywh(Tensor boxes)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var xy = boxes[.., ..2];
        return cat([xy, boxes[.., 2..] - xy], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Clamps x to [0, width] and y to [0, height] (mmdetection's <c>clip_border</c>).</summary>
    public static Tensor Clip(Tensor boxes, double height, double width)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        using var zero = 0.0.ToScalar();
        using var w = width.ToScalar();
        using var h = height.ToScalar();
        var x = boxes[.., TensorIndex.Tensor(tensor(new long[] { 0, 2 }))].clamp(zero, w);
        var y = boxes[.., TensorIndex.Tensor(tensor(new long[] { 1, 3 }))].clamp(zero, h);
        return stack([x[.., 0], y[.., 0], x[.., 1], y[.., 1]], 1).MoveToOuterDisposeScope();
    }

    internal static void CheckBoxes(Tensor boxes, string name)
    {
        if (boxes.dim() != 2 || boxes.shape[1] != 4)
            throw new ArgumentException($"{name} must be (N, 4) boxes, got shape [{string.Join(", ", boxes.shape)}]", name);
        if (!boxes.is_floating_point())
            throw new ArgumentException($"{name} must be floating point, got {boxes.dtype}", name);
    }
}
