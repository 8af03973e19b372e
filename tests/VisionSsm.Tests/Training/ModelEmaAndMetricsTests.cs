using TorchSharp;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

public class ModelEmaTests
{
    sealed class Net : nn.Module<Tensor, Tensor>
    {
        readonly TorchSharp.Modules.Linear fc = nn.Linear(2, 2);
        readonly TorchSharp.Modules.BatchNorm1d bn = nn.BatchNorm1d(2);
        public Net() : base("net") => RegisterComponents();
        public override Tensor forward(Tensor x) => bn.forward(fc.forward(x));
    }

    [Fact]
    public void FollowsTheExponentialMovingAverageIncludingBuffers()
    {
        using var model = new Net();
        using var ema = new ModelEma(model, new Net(), 0.9);
        var w0 = model.state_dict()["fc.weight"].clone();
        using (no_grad())
        {
            model.state_dict()["fc.weight"].add_(1.0);
            model.state_dict()["bn.running_mean"].fill_(2.0);
            model.state_dict()["bn.num_batches_tracked"].fill_(7);
        }
        ema.Update();
        var s = ema.Module.state_dict();
        // ema = 0.9·ema + 0.1·model: weights w0 + 0.1, running_mean 0.9·0 + 0.1·2 = 0.2; integer buffers copied.
        Assert.True(s["fc.weight"].allclose(w0 + 0.1, rtol: 0, atol: 1e-6));
        Assert.True(s["bn.running_mean"].allclose(full(2, 0.2f), rtol: 0, atol: 1e-6));
        Assert.Equal(7, s["bn.num_batches_tracked"].item<long>());
        ema.Update();
        Assert.True(s["fc.weight"].allclose(w0 + 0.19, rtol: 0, atol: 1e-6)); // 0.9·0.1 + 0.1·1
        Assert.DoesNotContain(ema.Module.parameters(), p => p.requires_grad);
    }
}

public class ClassificationMetricsTests
{
    [Fact]
    public void CountsTop1Top5PerClassAndConfusion()
    {
        var m = new ClassificationMetrics(["a", "b", "c", "d", "e", "f"]);
        // Rows: predicted order by logit. Sample 0: true 0, top-1 0. Sample 1: true 1, top-1 2, 1 is 2nd.
        // Sample 2: true 2, top-1 2. Sample 3: true 5, ranked last (outside top-5).
        var logits = tensor(new float[,]
        {
            { 9, 1, 2, 3, 4, 5 },
            { 0, 8, 9, 1, 2, 3 },
            { 0, 1, 9, 2, 3, 4 },
            { 9, 8, 7, 6, 5, 0 },
        });
        m.Add(logits, tensor(new long[] { 0, 1, 2, 5 }), 0.5);
        Assert.Equal(4, m.Count);
        Assert.Equal(50.0, m.Top1, 10);
        Assert.Equal(75.0, m.Top5, 10);
        Assert.Equal(0.5, m.MeanLoss, 10);
        Assert.Equal(1, m[1, 2]);
        Assert.Equal(1, m[5, 0]);
        Assert.Equal(1, m[0, 0]);
        var per = m.PerClassAccuracy();
        Assert.Equal([100, 0, 100], per[..3]);
        Assert.True(double.IsNaN(per[3]));
        Assert.Equal(0, per[5]);
        Assert.Contains("confusion matrix", m.Format());
    }

    [Fact]
    public void RejectsWrongShapes()
    {
        var m = new ClassificationMetrics(["a", "b"]);
        var e = Assert.Throws<ArgumentException>(() => m.Add(zeros(2, 3), tensor(new long[] { 0, 1 })));
        Assert.Contains("expected (batch, 2)", e.Message);
    }
}

public class LossesTests
{
    [Fact]
    public void SoftTargetCrossEntropyMatchesTheDefinition()
    {
        var logits = tensor(new float[,] { { 1, 2, 3 }, { 0, 0, 0 } });
        var targets = tensor(new float[,] { { 0, 0.5f, 0.5f }, { 1, 0, 0 } });
        // −Σ t·log_softmax, averaged over the batch; by hand: log_softmax(1,2,3) = (1,2,3) − log(e+e²+e³).
        double lse = Math.Log(Math.E + Math.Exp(2) + Math.Exp(3));
        double expected = (-(0.5 * (2 - lse) + 0.5 * (3 - lse)) + Math.Log(3)) / 2;
        Assert.Equal(expected, Losses.SoftTargetCrossEntropy(logits, targets).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => Losses.SoftTargetCrossEntropy(logits, zeros(2, 2)));
    }
}
