using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Downsample v1 of vanilla VMamba (PatchMerging2D, docs/models/vmamba.md §10) on (B, C, H, W): zero-pads odd H/W,
/// concatenates the 2×2 neighbours in the official order (even-even, odd-even, even-odd, odd-odd rows/cols),
/// then LayerNorm(4C) and Linear(4C → out, no bias). Keys <c>norm.*</c>, <c>reduction.weight</c> (out, 4C).
/// </summary>
public sealed class PatchMerging2d : Module<Tensor, Tensor>
{
    private readonly LayerNorm2d norm;
    private readonly Linear2d reduction;

    public PatchMerging2d(long channels, long outChannels) : base(nameof(PatchMerging2d))
    {
        norm = new LayerNorm2d(4 * channels);
        reduction = new Linear2d(4 * channels, outChannels, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3];
        if (h % 2 == 1 || w % 2 == 1) x = nn.functional.pad(x, [0, w % 2, 0, h % 2]);
        var x0 = x[.., .., TensorIndex.Slice(0, null, 2), TensorIndex.Slice(0, null, 2)];
        var x1 = x[.., .., TensorIndex.Slice(1, null, 2), TensorIndex.Slice(0, null, 2)];
        var x2 = x[.., .., TensorIndex.Slice(0, null, 2), TensorIndex.Slice(1, null, 2)];
        var x3 = x[.., .., TensorIndex.Slice(1, null, 2), TensorIndex.Slice(1, null, 2)];
        var merged = Ops.ChannelsLast.To(cat([x0, x1, x2, x3], 1));
        return reduction.call(norm.call(merged)).MoveToOuterDisposeScope();
    }
}
