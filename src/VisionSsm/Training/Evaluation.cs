using VisionSsm.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>Evaluation outside a training run (timm validate.py): batches through the prefetching loader, no grad.</summary>
public static class Evaluation
{
    public static ClassificationMetrics Evaluate(Module<Tensor, Tensor> net, IImageDataset data, ISampleTransform transform, int batchSize,
        Device? device = null, IReadOnlyList<string>? classes = null, CancellationToken cancel = default)
    {
        var loader = new PrefetchLoader(data, new LoaderOptions { BatchSize = batchSize, Shuffle = false, SampleTransform = transform, Device = device });
        var metrics = new ClassificationMetrics(classes ?? data.Classes);
        bool wasTraining = net.training;
        net.eval();
        try
        {
            using var _ = no_grad();
            foreach (var host in loader.HostBatches(0, cancel))
            {
                using var scope = NewDisposeScope();
                using var batch = loader.ToBatch(host, 0);
                var logits = net.forward(batch.Images);
                metrics.Add(logits, batch.Labels, functional.cross_entropy(logits, batch.Labels).item<float>());
            }
        }
        finally { if (wasTraining) net.train(); }
        return metrics;
    }
}
