using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>
/// <see cref="BatchNorm2d"/> (affine, tracking running stats) with the same state_dict keys (<c>weight</c>, <c>bias</c>,
/// <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c>), initial values and numerics, whose forward
/// passes no temporary Scalar to native code: TorchSharp's <c>BatchNorm.forward</c> increments the counter with
/// <c>num_batches_tracked.add_(1)</c>, a temporary that a collection on another thread can free mid-call
/// (docs/reliability.md); here the increment uses <see cref="Scalars.One"/>. The normalisation itself is
/// <c>nn.functional.batch_norm</c>, as in TorchSharp's module (PyTorch <c>torch.nn.BatchNorm2d</c> docs).
/// In a shard other than the first of a data-parallel training step (<see cref="DataParallelShard"/>) it normalises with
/// the shard's statistics and leaves the running statistics and the counter to shard 0, as a DistributedDataParallel
/// replica of rank ≠ 0 does (its buffers are overwritten by rank 0's).
/// </summary>
public sealed class OwnedScalarBatchNorm2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    public long NumFeatures { get; }
    public double Eps { get; }
    public double Momentum { get; }

    public OwnedScalarBatchNorm2d(long numFeatures, double eps = 1e-5, double momentum = 0.1) : base("BatchNorm2d")
    {
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        weight = nn.Parameter(ones(numFeatures));
        bias = nn.Parameter(zeros(numFeatures));
        running_mean = zeros(numFeatures);
        running_var = ones(numFeatures);
        num_batches_tracked = tensor(0L);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4) throw new ArgumentException($"expected 4D input (got {input.dim()}D input)", nameof(input));
        if (training && DataParallelShard.Index != 0)
            return nn.functional.batch_norm(input, null, null, weight, bias, true, Momentum, Eps);
        if (training)
            using (no_grad()) num_batches_tracked.add_(Scalars.One, Scalars.One);
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, Eps);
    }
}
