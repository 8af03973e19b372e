using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Dropout whose mask is drawn from <see cref="RandomStream.Current"/> (torch's global generator unless a data-parallel
/// shard installed its own, Training/DataParallelStep), so the shards of one step draw repeatable masks. Element-wise
/// it is PyTorch's <c>nn.Dropout</c>; with <c>channels</c> it is <c>nn.Dropout2d</c> (a whole feature map of a sample
/// is dropped, mask shape (N, C, 1, 1)). Survivors are scaled by 1/(1−p); identity in eval or when p = 0. No
/// parameters, so state-dict keys are those of the module it stands for.
/// </summary>
public sealed class StreamDropout : Module<Tensor, Tensor>
{
    public double Probability { get; }
    public bool Channels { get; }

    public StreamDropout(double probability, bool channels = false) : base(channels ? "Dropout2d" : "Dropout")
    {
        if (probability is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected 0 ≤ p < 1");
        (Probability, Channels) = (probability, channels);
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || Probability == 0) return x.alias();
        double keep = 1 - Probability;
        long[] shape = x.shape.ToArray();
        if (Channels)
        {
            if (x.dim() < 3) throw new ArgumentException($"channel dropout expects (N, C, …) input with spatial dims (got {x.dim()}D).", nameof(x));
            for (int i = 2; i < shape.Length; i++) shape[i] = 1;
        }
        return Apply(x, shape, keep);
    }

    /// <summary><paramref name="x"/> times a mask of <paramref name="maskShape"/> (broadcast over <paramref name="x"/>):
    /// each entry 1/<paramref name="keep"/> with probability <paramref name="keep"/>, else 0, drawn from
    /// <see cref="RandomStream.Current"/>. Shared with <see cref="DropPath"/> (mask shape (N, 1, …, 1)).</summary>
    internal static Tensor Apply(Tensor x, long[] maskShape, double keep)
    {
        using var mask = empty(maskShape, dtype: x.dtype, device: x.device).bernoulli_(keep, generator: RandomStream.Current).OverInPlace(keep);
        return x * mask;
    }
}
