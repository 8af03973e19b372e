using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// LayerNorm over the channel dimension of a (B, C, H, W) map (VMamba <c>LayerNorm2d</c>, docs/models/vmamba.md §2:
/// permute to NHWC, layer_norm over C with eps 1e-5, permute back). With channels-last storage (see
/// <see cref="Ops.ChannelsLast"/>) the permute is a free view, so no copy is made; the result is channels-last.
/// Parameters <c>weight</c>, <c>bias</c> (C), initialised to 1 and 0 (docs/models/vmamba.md §7).
/// </summary>
public sealed class LayerNorm2d : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    public long Channels { get; }
    public double Eps { get; }

    public LayerNorm2d(long channels, double eps = 1e-5) : base(nameof(LayerNorm2d))
    {
        Channels = channels;
        Eps = eps;
        weight = Parameter(ones(channels));
        bias = Parameter(zeros(channels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Channels)
            throw new ArgumentException($"LayerNorm2d expects (B, {Channels}, H, W); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var nhwc = x.permute(0, 2, 3, 1);
        using var y = nn.functional.layer_norm(nhwc, [Channels], weight, bias, Eps);
        return y.permute(0, 3, 1, 2);
    }
}
