using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// What a benchmark point runs for one task, so <see cref="ThroughputBenchmark"/> has a single point runner (build, probe,
/// warm up, time, read the peak memory) for every task: classification (<see cref="ClassificationWorkload"/>),
/// segmentation and detection (their folders implement this, since Analysis sits below them). A workload builds the
/// model, runs the task's whole inference on a batch, and gives the task's training loss of a batch against synthetic
/// targets of the right form.
/// </summary>
public interface IBenchWorkload
{
    /// <summary>The model's canonical name (reported in the results).</summary>
    string Model { get; }

    /// <summary>The size the model is registered at (quoted when it cannot take a point's size).</summary>
    int DefaultImageSize { get; }

    /// <summary>
    /// Builds the model for <paramref name="size"/> inputs (float32). Throws <see cref="ArgumentException"/> (or what
    /// the model's first forward throws, see <see cref="Infer"/>) when it cannot take them.
    /// </summary>
    nn.Module Build(BenchSize size, int inChannels, Device? device);

    /// <summary>The task's full inference of <paramref name="images"/> (B, C, H, W); the caller sets eval mode and no_grad.</summary>
    void Infer(nn.Module model, Tensor images);

    /// <summary>
    /// Makes synthetic targets for a batch of <paramref name="images"/> (kept by the returned function) and returns the
    /// function computing the task's training loss of the batch (a scalar with a gradient); the caller sets train mode,
    /// runs backward and steps the optimizer.
    /// </summary>
    Func<Tensor> TrainingLoss(nn.Module model, Tensor images);
}
