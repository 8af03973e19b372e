using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>Switches of the Gamba cell. Defaults are model.py's behaviour (docs/models/vgamba.md §2, §5).</summary>
/// <param name="DState">Mamba state size (model.py: 64).</param>
/// <param name="PositionalEmbedding">Add the factorised rel_h + rel_w embedding (ablation "no positional embedding" = false).</param>
/// <param name="ContextMask">Multiply by σ(Conv1d k3) of the sequence (ablation "no context mask" = false).</param>
/// <param name="FixLayout">Transpose the (B, Np, c) output to (B, c, Np) before reshaping to (B, c, S, S); model.py
/// reshapes the raw memory, which scrambles channels and positions.</param>
/// <param name="Bidirectional">Also scan the reversed sequence with the same Mamba weights and average the two (not in
/// the paper or model.py; the paper claims mask + positions make it unnecessary).</param>
public sealed record GambaCellOptions(int DState = 64, bool PositionalEmbedding = true, bool ContextMask = true,
    bool FixLayout = false, bool Bidirectional = false);

/// <summary>
/// vGamba's Gamba cell (model.py <c>GambaCell</c>, docs/models/vgamba.md §2) on x (B, c, S, S):
/// 1. t = x flattened to (B, Np, c) in raster order;
/// 2. t += pos with pos[a·S + b] = rel_w[a] + rel_h[b] (a factorised absolute embedding, randn init);
/// 3. mask = σ(Conv1d(c, c, k 3, pad 1)(tᵀ))ᵀ, sliding along the flattened sequence (wraps across row ends);
/// 4. m = Mamba(c, d_state 64)(t): causal and unidirectional — model.py does nothing to "remove causality" as the
///    paper claims;
/// 5. o = m ⊙ mask, then the raw (B, Np, c) → (B, c, S, S) reshape (see <see cref="GambaCellOptions.FixLayout"/>).
/// </summary>
public sealed class GambaCell : Module<Tensor, Tensor>
{
    public int Dim { get; }
    public int Side { get; }
    public GambaCellOptions Options { get; }

    private readonly Parameter? rel_h;
    private readonly Parameter? rel_w;
    private readonly Mamba mamba_block;
    private readonly Sequential? gate;

    public GambaCell(int dim, int side, GambaCellOptions? options = null) : base(nameof(GambaCell))
    {
        Options = options ?? new GambaCellOptions();
        Dim = dim;
        Side = side;
        if (Options.PositionalEmbedding)
        {
            rel_h = Parameter(randn(1, dim, 1, side));
            rel_w = Parameter(randn(1, dim, side, 1));
        }
        mamba_block = new Mamba(new MambaConfig(dim, DState: Options.DState));
        if (Options.ContextMask) gate = Sequential(Conv1d(dim, dim, 3, padding: 1), Sigmoid());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var t = Sequence(x);
        return Output(Mix(t), Mask(t)).MoveToOuterDisposeScope();
    }

    /// <summary>Steps 1–2: x (B, c, S, S) → t (B, Np, c) in raster order, plus the positional embedding.</summary>
    internal Tensor Sequence(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Dim || x.shape[2] != Side || x.shape[3] != Side)
            throw new ArgumentException($"GambaCell was built for (batch, {Dim}, {Side}, {Side}) (its positional parameters depend " +
                $"on the side); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        if (rel_h is null) return x.flatten(2).transpose(1, 2);                     // (B, Np, c)
        using var pos = rel_h.Plus(rel_w!).view(1, Dim, (long)Side * Side);
        // Added channel-first, so the (B, Np, c) result is a transposed view of a dense (B, c, Np) map: the Mamba's fused
        // path reads it as channel-major rows and the context mask's conv1d as its input, both without a copy.
        return x.flatten(2).Plus(pos).transpose(1, 2);
    }

    /// <summary>Step 4: the Mamba mixer on t (B, Np, c) (both directions, averaged, when bidirectional).</summary>
    internal Tensor Mix(Tensor t)
    {
        if (!Options.Bidirectional) return mamba_block.call(t);
        using var scope = NewDisposeScope();
        return mamba_block.call(t).Plus(mamba_block.call(t.flip(1)).flip(1)).Times(0.5).MoveToOuterDisposeScope();
    }

    /// <summary>Step 3: the context mask σ(Conv1d(tᵀ))ᵀ (B, Np, c), or null when switched off.</summary>
    internal Tensor? Mask(Tensor t)
    {
        if (gate is null) return null;
        using var scope = NewDisposeScope();
        return gate.call(t.transpose(1, 2)).transpose(1, 2).MoveToOuterDisposeScope();
    }

    /// <summary>Step 5: o = m ⊙ mask, then the faithful raw reshape (or, fixed, the transpose back) to (B, c, S, S).</summary>
    internal Tensor Output(Tensor m, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        if (mask is not null) m = m * mask;
        var o = Options.FixLayout ? m.transpose(1, 2) : m;                        // fixed: (B, c, Np)
        return o.contiguous().reshape(m.shape[0], Dim, Side, Side).MoveToOuterDisposeScope();   // faithful: raw view of (B, Np, c)
    }
}
