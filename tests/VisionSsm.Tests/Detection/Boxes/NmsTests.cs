using VisionSsm.Detection.Boxes;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Boxes;

public class NmsTests
{
    static Tensor B(params double[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, 4 });

    [Fact]
    public void Hand_computed_example()
    {
        // A (0,0,10,10) s=.9; B (1,1,11,11) s=.8: IoU(A,B) = 81/119 = .681; C (20,20,30,30) s=.7; D (0,0,10,5) s=.95:
        // IoU(D,A) = 50/100 = .5 (not > .5, so A survives D), IoU(D,B) = 36/(50+100-36) = .316.
        using var scope = NewDisposeScope();
        var boxes = B([0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]);
        var scores = tensor(new[] { 0.9, 0.8, 0.7, 0.95 });
        Assert.Equal(new long[] { 3, 0, 2 }, Nms.Apply(boxes, scores, 0.5).data<long>().ToArray());
        // Threshold .49: D now suppresses A (IoU .5 > .49), so B is no longer suppressed by A and survives (IoU(D,B) = .316).
        Assert.Equal(new long[] { 3, 1, 2 }, Nms.Apply(boxes, scores, 0.49).data<long>().ToArray());
        // Threshold .7: nothing overlaps that much.
        Assert.Equal(new long[] { 3, 0, 1, 2 }, Nms.Apply(boxes, scores, 0.7).data<long>().ToArray());
    }

    [Fact]
    public void Class_wise_nms_never_suppresses_across_labels()
    {
        using var scope = NewDisposeScope();
        var boxes = B([0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10], [-5, -5, 3, 3]);
        var scores = tensor(new[] { 0.9, 0.8, 0.7, 0.6 });
        var labels = tensor(new long[] { 0, 1, 0, 1 });
        // Same box twice with different labels: both kept; box 2 (label 0, IoU .9 with box 0) goes.
        Assert.Equal(new long[] { 0, 1, 3 }, Nms.Batched(boxes, scores, labels, 0.5).data<long>().ToArray());
    }

    [Theory]
    [InlineData(1, 0.5)]
    [InlineData(2, 0.3)]
    [InlineData(3, 0.7)]
    [InlineData(4, 0.0)]
    [InlineData(5, 0.95)]
    public void Fast_nms_equals_the_brute_force_twin(int seed, double thr)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)seed);
        int n = 300;
        var xy = rand(new long[] { n, 2 }, generator: g, dtype: ScalarType.Float64) * 100 - 10; // some negative coordinates
        var wh = rand(new long[] { n, 2 }, generator: g, dtype: ScalarType.Float64) * 40;
        var boxes = cat([xy, xy + wh], 1);
        var scores = (rand(new long[] { n }, generator: g, dtype: ScalarType.Float64) * 20).floor(); // many ties
        var labels = randint(0, 4, new long[] { n }, generator: g);
        Assert.Equal(Nms.Reference(boxes, scores, null, thr).data<long>().ToArray(), Nms.Apply(boxes, scores, thr).data<long>().ToArray());
        Assert.Equal(Nms.Reference(boxes, scores, labels, thr).data<long>().ToArray(), Nms.Batched(boxes, scores, labels, thr).data<long>().ToArray());
    }

    [Fact]
    public void Empty_input_and_bad_shapes()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(0, Nms.Apply(zeros(0, 4), zeros(0), 0.5).numel());
        Assert.Equal(0, Nms.Batched(zeros(0, 4), zeros(0), zeros(0, dtype: ScalarType.Int64), 0.5).numel());
        Assert.Contains("scores", Assert.Throws<ArgumentException>(() => Nms.Apply(zeros(3, 4), zeros(2), 0.5)).Message);
        Assert.Contains("boxes", Assert.Throws<ArgumentException>(() => Nms.Apply(zeros(3, 5), zeros(3), 0.5)).Message);
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => Nms.Batched(zeros(3, 4), zeros(3), zeros(3), 0.5)).Message);
    }
}

public class BoxOpsTests
{
    [Fact]
    public void Iou_area_and_conversions_by_hand()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new double[] { 0, 0, 10, 10, 5, 5, 15, 25 }, new long[] { 2, 4 });
        var b = tensor(new double[] { 0, 0, 10, 10, 20, 20, 30, 30, 0, 0, 0, 0 }, new long[] { 3, 4 });
        Assert.Equal(new[] { 100.0, 200.0 }, BoxOps.Area(a).data<double>().ToArray());
        var iou = BoxOps.PairwiseIou(a, b);
        Assert.Equal(1.0, iou[0, 0].item<double>());
        Assert.Equal(0.0, iou[0, 1].item<double>());
        Assert.Equal(25.0 / (100 + 200 - 25), iou[1, 0].item<double>(), 15);
        Assert.Equal(0.0, iou[0, 2].item<double>()); // empty box against a real one: 0 / 100
        Assert.True(double.IsNaN(BoxOps.PairwiseIou(b[2..3], b[2..3]).item<double>())); // 0/0, as torchvision
        var xywh = BoxOps.XyxyToXywh(a);
        Assert.Equal(new double[] { 0, 0, 10, 10, 5, 5, 10, 20 }, xywh.flatten().data<double>().ToArray());
        Assert.True(BoxOps.XywhToXyxy(xywh).equal(a).all().item<bool>());
        var clipped = BoxOps.Clip(tensor(new double[] { -3, 2, 50, 70 }, new long[] { 1, 4 }), height: 40, width: 30);
        Assert.Equal(new double[] { 0, 2, 30, 40 }, clipped.flatten().data<double>().ToArray());
    }
}
