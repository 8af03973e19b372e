using VisionSsm.Data;
using VisionSsm.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Tests.Training;

public class EvaluationTests
{
    /// <summary>Twelve 1×3×4 images of seeded noise with labels i % 3.</summary>
    sealed class NoiseDataset : IImageDataset
    {
        public int Count => 12;
        public IReadOnlyList<string> Classes { get; } = ["a", "b", "c"];
        public ImageSample Get(int index)
        {
            var rng = new Random(index);
            return new ImageSample(Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), 1, 3, 4, index % 3);
        }
    }

    sealed class NoTransform : ISampleTransform
    {
        public ImageSample Apply(ImageSample sample, Random rng) => sample;
    }

    /// <summary>A linear classifier on the flattened pixels: not mirror-symmetric, so flipping changes its output.</summary>
    static Module<Tensor, Tensor> LinearNet()
    {
        manual_seed(3);
        return Sequential(Flatten(1), Linear(12, 3));
    }

    [Fact]
    public void Flip_TTA_scores_by_the_mean_probability_of_the_image_and_its_mirror()
    {
        using var scope = NewDisposeScope();
        var net = LinearNet();
        net.eval();
        var x = randn(5, 1, 3, 4);
        using var _ = no_grad();
        var p = functional.softmax(net.call(x), 1).to(float64);
        var pMirror = functional.softmax(net.call(x.flip(3)), 1).to(float64);
        var expected = ((p + pMirror) / 2).log();
        Assert.True(Evaluation.LogProbabilities(net, x, flipTta: true).to(float64).allclose(expected, rtol: 1e-5, atol: 1e-6));
        Assert.True(Evaluation.LogProbabilities(net, x).to(float64).allclose(p.log(), rtol: 1e-5, atol: 1e-6));
        Assert.False(Evaluation.LogProbabilities(net, x, flipTta: true).allclose(Evaluation.LogProbabilities(net, x), atol: 1e-4));
    }

    [Fact]
    public void Evaluate_with_flip_TTA_counts_the_argmax_of_the_mean_probability()
    {
        using var scope = NewDisposeScope();
        var net = LinearNet();
        var data = new NoiseDataset();
        var metrics = Evaluation.Evaluate(net, data, new NoTransform(), batchSize: 5, flipTta: true);
        int correct = 0;
        using (no_grad())
            for (int i = 0; i < data.Count; i++)
            {
                var s = data.Get(i);
                var x = tensor(s.Pixels).reshape(1, 1, 3, 4);
                var p = functional.softmax(net.call(x), 1) + functional.softmax(net.call(x.flip(3)), 1);
                if (p.argmax(1).item<long>() == s.Label) correct++;
            }
        Assert.Equal(100.0 * correct / data.Count, metrics.Top1, 6);
    }
}
