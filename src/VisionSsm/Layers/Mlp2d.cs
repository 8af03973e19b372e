using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// The channel MLP of the VSS block (docs/models/vmamba.md §5): Linear2d(C → hidden, bias) → GELU (exact) →
/// Linear2d(hidden → C, bias); dropout 0. Keys <c>fc1.*</c>, <c>fc2.*</c>.
/// </summary>
public sealed class Mlp2d : Module<Tensor, Tensor>
{
    private readonly Linear2d fc1;
    private readonly Linear2d fc2;

    public Mlp2d(long channels, long hidden) : base(nameof(Mlp2d))
    {
        fc1 = new Linear2d(channels, hidden);
        fc2 = new Linear2d(hidden, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = fc1.call(x);
        using var a = nn.functional.gelu(h);
        return fc2.call(a);
    }
}
