using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Stochastic depth per sample (timm <c>DropPath</c>): in training, zeroes the whole residual branch of a sample
/// with probability p and scales survivors by 1/(1-p); identity in eval or when p = 0. The mask is drawn from
/// <see cref="RandomStream.Current"/> (torch's global generator unless a data-parallel shard installed its own).
/// </summary>
public sealed class DropPath : Module<Tensor, Tensor>
{
    public double Probability { get; }

    public DropPath(double probability) : base(nameof(DropPath))
    {
        if (probability is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected 0 ≤ p < 1");
        Probability = probability;
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || Probability == 0) return x.alias();
        double keep = 1 - Probability;
        var shape = new long[x.dim()];
        shape[0] = x.shape[0];
        for (int i = 1; i < shape.Length; i++) shape[i] = 1;
        return StreamDropout.Apply(x, shape, keep);
    }

    /// <summary>The linear schedule timm and the official repos use: rate i of n is <c>maxRate·i/(n−1)</c>.</summary>
    public static double[] LinearSchedule(double maxRate, int count) =>
        count <= 1 ? new double[Math.Max(count, 0)] : Enumerable.Range(0, count).Select(i => maxRate * i / (count - 1)).ToArray();
}
