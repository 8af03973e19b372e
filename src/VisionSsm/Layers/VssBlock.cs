using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// The VSS block (VSSBlock <c>_forward</c>, post_norm False, docs/models/vmamba.md §5) on (B, C, H, W):
/// <c>x + DropPath(SS2D(LN2d(x)))</c>, then <c>x + DropPath(MLP(LN2d(x)))</c> when the MLP ratio is positive
/// (the v0 form has no MLP, docs/models/vmamba.md §10). Both branches share the block's drop-path rate. Keys: <c>norm.*</c>,
/// <c>op.*</c>, <c>norm2.*</c>, <c>mlp.fc1.*</c>, <c>mlp.fc2.*</c>.
/// </summary>
public sealed class VssBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm2d norm;
    private readonly SS2D op;
    private readonly DropPath drop_path;
    private readonly LayerNorm2d? norm2;
    private readonly Mlp2d? mlp;

    public VssBlock(Ss2dConfig ssm, double mlpRatio = 4.0, double dropPath = 0.0) : base(nameof(VssBlock))
    {
        int c = ssm.DModel;
        norm = new LayerNorm2d(c);
        op = new SS2D(ssm);
        drop_path = new DropPath(dropPath);
        if (mlpRatio > 0)
        {
            norm2 = new LayerNorm2d(c);
            mlp = new Mlp2d(c, (long)(c * mlpRatio));
        }
        RegisterComponents();
    }

    public SS2D Op => op;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x.Plus(drop_path.call(op.call(norm.call(x))));
        if (mlp is not null) x = x.Plus(drop_path.call(mlp.call(norm2!.call(x))));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Closed form of docs/models/vmamba.md §1: 2C + SS2D + 2C + 2·ratio·C² + ratio·C + C (the MLP part only with ratio &gt; 0).</summary>
    public static long ParameterCount(Ss2dConfig ssm, double mlpRatio)
    {
        long c = ssm.DModel, hidden = (long)(c * mlpRatio);
        return 2 * c + ssm.ParameterCount() + (mlpRatio > 0 ? 2 * c + 2 * c * hidden + hidden + c : 0);
    }
}
