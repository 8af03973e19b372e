using VisionSsm.Segmentation.Metrics;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Segmentation.Metrics;

public class ConfusionMatrixTests
{
    // Hand-computed (4 classes, class 3 in neither map, class 2 only predicted):
    //   counted pairs (truth, pred): (0,0)×3, (0,1), (1,1), (1,2); the two 255 pixels are left out.
    //   class 0: TP 3, GT 4, pred 3 → IoU 3/4, Acc 3/4;   class 1: TP 1, GT 2, pred 2 → IoU 1/3, Acc 1/2
    //   class 2: TP 0, GT 0, pred 1 → IoU 0, Acc NaN;     class 3: nothing → IoU NaN, Acc NaN
    //   aAcc 4/6, mIoU (3/4 + 1/3 + 0)/3, mAcc (3/4 + 1/2)/2.
    static readonly byte[] Truth = [0, 0, 0, 1, 1, 255, 255, 0];
    static readonly byte[] Pred = [0, 0, 1, 1, 2, 1, 0, 0];

    static void AssertHandExample(SegmentationScores s)
    {
        Assert.Equal(0.75, s.IoU[0], 12);
        Assert.Equal(1.0 / 3, s.IoU[1], 12);
        Assert.Equal(0.0, s.IoU[2], 12);
        Assert.True(double.IsNaN(s.IoU[3]));
        Assert.Equal(0.75, s.Accuracy[0], 12);
        Assert.Equal(0.5, s.Accuracy[1], 12);
        Assert.True(double.IsNaN(s.Accuracy[2]));
        Assert.True(double.IsNaN(s.Accuracy[3]));
        Assert.Equal(4.0 / 6, s.AAcc, 12);
        Assert.Equal((0.75 + 1.0 / 3) / 3, s.MIoU, 12);
        Assert.Equal(0.625, s.MAcc, 12);
    }

    [Fact]
    public void HandComputedExampleWithIgnoreAndAbsentClasses()
    {
        var m = new ConfusionMatrix(4);
        m.Add(Pred, Truth);
        Assert.Equal(6, m.Total);
        Assert.Equal(3, m[0, 0]);
        Assert.Equal(1, m[1, 2]);
        AssertHandExample(m.Compute());
        var text = m.Compute().Format(["a", "b", "c", "d"]);
        Assert.Contains("75.00", text);
        Assert.Contains("nan", text);
        Assert.Contains("mIoU 36.11", text);
    }

    [Fact]
    public void TensorBatchesCountLikeSpansAndMatricesMerge()
    {
        var m = new ConfusionMatrix(4);
        using (var p = tensor(Pred.Select(v => (long)v).ToArray()).reshape(2, 4))
        using (var t = tensor(Truth).reshape(2, 4))
            m.Add(p, t);
        AssertHandExample(m.Compute());

        var rng = new Random(3);
        var pred = new byte[500];
        var truth = new byte[500];
        for (int i = 0; i < 500; i++) { pred[i] = (byte)rng.Next(5); truth[i] = (byte)(rng.Next(6) == 0 ? 255 : rng.Next(5)); }
        var a = new ConfusionMatrix(5);
        a.Add(pred.AsSpan(0, 200), truth.AsSpan(0, 200));
        var b = new ConfusionMatrix(5);
        b.Add(pred.AsSpan(200), truth.AsSpan(200));
        a.Add(b);
        var c = new ConfusionMatrix(5);
        using (var p = tensor(pred)) using (var t = tensor(truth)) c.Add(p, t);
        for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
        {
            Assert.Equal(Enumerable.Range(0, 500).Count(k => truth[k] == i && pred[k] == j), c[i, j]);
            Assert.Equal(c[i, j], a[i, j]);
        }
    }

    [Fact]
    public void PerfectPredictionScoresOneAndEmptyScoresNaN()
    {
        var m = new ConfusionMatrix(3);
        Assert.True(double.IsNaN(m.Compute().MIoU));
        byte[] t = [0, 1, 1, 255];
        m.Add([0, 1, 1, 2], t);
        var s = m.Compute();
        Assert.Equal(1.0, s.MIoU);
        Assert.Equal(1.0, s.AAcc);
        Assert.True(double.IsNaN(s.IoU[2]));   // class 2 appears only under the ignore label
    }

    [Fact]
    public void OutOfRangeLabelsAreErrors()
    {
        var m = new ConfusionMatrix(3);
        Assert.Contains("ground-truth label 3", Assert.Throws<ArgumentException>(() => m.Add([0], [3])).Message);
        Assert.Contains("predicted label 7", Assert.Throws<ArgumentException>(() => m.Add([7], [0])).Message);
        using var p = tensor(new long[] { 0, 5 });
        using var t = tensor(new long[] { 0, 1 });
        Assert.Contains("predicted labels span", Assert.Throws<ArgumentException>(() => m.Add(p, t)).Message);
        Assert.Throws<ArgumentException>(() => m.Add(new byte[2], new byte[3]));
    }

    [Fact]
    public void RowPercentOfTheHandExample()
    {
        var m = new ConfusionMatrix(4);
        m.Add(Pred, Truth);
        var r = m.RowPercent();
        // truth 0: 3 of 4 pixels → 0, 1 → 1; truth 1: one → 1, one → 2; classes 2 and 3 have no ground-truth pixels.
        Assert.Equal(75.0, r[0, 0], 12);
        Assert.Equal(25.0, r[0, 1], 12);
        Assert.Equal(50.0, r[1, 1], 12);
        Assert.Equal(50.0, r[1, 2], 12);
        Assert.Equal(0.0, r[1, 0], 12);
        Assert.True(double.IsNaN(r[2, 2]) && double.IsNaN(r[3, 0]));
        var lines = m.Format(["a", "b", "c", "d"]).Split(Environment.NewLine);
        Assert.Equal(5, lines.Length);
        Assert.Contains("75.0", lines[1]);
        Assert.Contains("nan", lines[3]);
        Assert.Throws<ArgumentException>(() => m.Format(["a"]));
    }
}
