using VisionSsm.Analysis;
using VisionSsm.Detection.Models;
using VisionSsm.Detection.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Training;

/// <summary>The detection bench model runs the whole predictor, mask head and paste included.</summary>
public class DetectionBenchWorkloadTests
{
    [Fact]
    public void AFreshModelDetectsNothingButTheBenchModelKeepsTheMaximum()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var images = randn([1, 3, 96, 96]);
        var metas = new[] { new ImageMeta(96, 96, 96, 96) };
        // Freshly initialised, every class scores about 1/81, under the 0.05 threshold: no detections, no masks to paste.
        using var fresh = DetectionZoo.Create("maskrcnn_vmamba_nano", 80);
        fresh.eval();
        Assert.Equal(0, fresh.Predict(images, metas)[0].Scores.shape[0]);

        var workload = new DetectionBenchWorkload("maskrcnn_vmamba_nano");
        using var bench = (MaskRcnn)workload.Build(new BenchSize(96), 3, null);
        bench.eval();
        var d = bench.Predict(images, metas)[0];
        int max = bench.Config.MaxDetections;
        Assert.Equal(max, d.Scores.shape[0]);
        Assert.Equal(new long[] { max, 96, 96 }, d.Masks!.shape);
        Assert.True(d.Labels.lt(DetectionBenchWorkload.KeptClasses).all().item<bool>());
        Assert.True(d.Scores.min().item<float>() > 0.05f);
    }

    [Fact]
    public void TheTrainingLossIsTheDetectorsLossSum()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var workload = new DetectionBenchWorkload("maskrcnn_vmamba_nano");
        using var net = (MaskRcnn)workload.Build(new BenchSize(48, 80), 3, null);
        net.train();
        var loss = workload.TrainingLoss(net, randn([1, 3, 48, 80]))();
        Assert.Equal(0, loss.dim());
        Assert.True(loss.requires_grad);
        float v = loss.item<float>();
        // At least the RPN's and the RoI classifier's cross entropies: the latter alone is about ln(81) ≈ 4.4 at init.
        Assert.True(float.IsFinite(v) && v > 1.0f, $"loss {v}");
    }
}
