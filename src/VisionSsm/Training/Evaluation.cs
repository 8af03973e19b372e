using TorchSharp;
using VisionSsm.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>Evaluation outside a training run (timm validate.py): batches through the prefetching loader, no grad.</summary>
public static class Evaluation
{
    /// <param name="flipTta">Test-time augmentation: score each image by the mean of the class probabilities of the
    /// image and its horizontal mirror (for models trained with random flips).</param>
    public static ClassificationMetrics Evaluate(Module<Tensor, Tensor> net, IImageDataset data, ISampleTransform transform, int batchSize,
        Device? device = null, IReadOnlyList<string>? classes = null, CancellationToken cancel = default, bool flipTta = false,
        Action<int, int>? progress = null)
    {
        var loader = new PrefetchLoader(data, new LoaderOptions { BatchSize = batchSize, Shuffle = false, SampleTransform = transform, Device = device });
        var metrics = new ClassificationMetrics(classes ?? data.Classes);
        bool wasTraining = net.training;
        net.eval();
        try
        {
            using var _ = no_grad();
            int done = 0;
            foreach (var host in loader.HostBatches(0, cancel))
            {
                using var scope = NewDisposeScope();
                using var batch = loader.ToBatch(host, 0);
                var logProbs = LogProbabilities(net, batch.Images, flipTta);
                metrics.Add(logProbs, batch.Labels, functional.nll_loss(logProbs, batch.Labels).item<float>());
                done += (int)batch.Labels.shape[0];
                progress?.Invoke(done, data.Count);
            }
        }
        finally { if (wasTraining) net.train(); }
        return metrics;
    }

    /// <summary>Log class probabilities of a (B, C, H, W) batch; with <paramref name="flipTta"/>, of the mean of the
    /// probabilities of the batch and its horizontal mirror: log((p + p_flip) / 2) = logsumexp(log p, log p_flip) − log 2.</summary>
    public static Tensor LogProbabilities(Module<Tensor, Tensor> net, Tensor images, bool flipTta = false)
    {
        var logProbs = functional.log_softmax(net.forward(images), 1);
        if (!flipTta) return logProbs;
        var mirrored = functional.log_softmax(net.forward(images.flip(3)), 1);
        using var log2 = Math.Log(2).ToScalar();
        return stack([logProbs, mirrored]).logsumexp(0).sub_(log2);
    }
}
