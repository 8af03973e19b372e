using TorchSharp.Modules;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// vGamba's gated fusion (model.py <c>Gating</c>, the concrete form of the paper's eqs. 12–13; docs/models/vgamba.md §2):
/// a' = proj_a(a), b' = proj_b(b) (1×1 convs c → P with bias), then out = σ(W_g a')·a' + σ(W_g b')·b' with ONE
/// shared 1-channel 1×1 conv <c>gate</c> (P → 1, bias). The two gates are independent sigmoids, not g and 1 − g.
/// </summary>
public sealed class GatedFusion : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d proj_a;
    private readonly Conv2d proj_b;
    private readonly Conv2d gate;

    public GatedFusion(int inChannels, int outChannels) : base(nameof(GatedFusion))
    {
        proj_a = Conv2d(inChannels, outChannels, 1);
        proj_b = Conv2d(inChannels, outChannels, 1);
        gate = Conv2d(outChannels, 1, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return GatedA(a, GatedB(b)).MoveToOuterDisposeScope();
    }

    /// <summary>The first term, σ(W_g a')·a' with a' = proj_a(a), plus <paramref name="addend"/> when given; depends on a
    /// alone (so it can run beside <see cref="GatedB"/>).</summary>
    public Tensor GatedA(Tensor a, Tensor? addend = null) => Gated(proj_a, a, addend);

    /// <summary>The second term, σ(W_g b')·b' with b' = proj_b(b).</summary>
    public Tensor GatedB(Tensor b) => Gated(proj_b, b, null);

    /// <summary>
    /// σ(W_g p)·p (+ addend) for p = proj(x): in float32 inference as one <see cref="ChannelGate"/> pass, else as the
    /// module ops (the twin; training, other dtypes).
    /// </summary>
    Tensor Gated(Conv2d proj, Tensor x, Tensor? addend)
    {
        using var scope = NewDisposeScope();
        var p = PointwiseConv.Apply(proj, x);                                  // a Gemm product in float32 inference
        if (ChannelGate.Supports(p) && !(is_grad_enabled() && (p.requires_grad || gate.weight!.requires_grad)))
            return ChannelGate.Apply(p, gate.weight!, gate.bias, addend).MoveToOuterDisposeScope();
        var y = sigmoid(gate.call(p)) * p;
        return (addend is null ? y : y.Plus(addend)).MoveToOuterDisposeScope();
    }
}
