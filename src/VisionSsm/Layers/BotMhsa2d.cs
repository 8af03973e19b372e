using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// BoTNet's 2D multi-head self-attention as leaderj1001/BottleneckTransformers writes it, with vGamba's register
/// tokens (docs/models/vgamba.md §2 "MHSA"). On x (B, c, S, S), h heads of d = c/h channels:
/// q, k, v = 1×1 convs (with bias) viewed (B, h, d, Np); r = (rel_h + rel_w) viewed (1, h, d, Np), so
/// r[a·S + b] = rel_w[a] + rel_h[b]; energy[i, j] = q_i·k_j + r_i·q_j (the position term pairs the row's position
/// with the column's query, as upstream); no 1/√d unless <see cref="ScaleLogits"/>; softmax over j;
/// out_i = Σ_j attn[i, j] v_j; reshaped head-major to (B, c, S, S).
/// Registers: vGamba packs <c>register_tokens</c> (R, Np, Np) as extra heads' logits and <c>register_tokens_v</c>
/// (R, d, Np) as their values, then drops those heads' outputs. The softmax is per head, so the kept heads are
/// unaffected: we keep the parameters (for keys and counts) but skip that compute (FLOP counts still charge it, as
/// upstream computes it).
/// </summary>
public sealed class BotMhsa2d : Module<Tensor, Tensor>
{
    public int Dim { get; }
    public int Side { get; }
    public int Heads { get; }
    public int RegisterTokens { get; }
    /// <summary>Scale the logits by 1/√d (the "fixed" variants); upstream does not.</summary>
    public bool ScaleLogits { get; }

    private readonly Conv2d Q;
    private readonly Conv2d K;
    private readonly Conv2d V;
    private readonly Parameter rel_h;
    private readonly Parameter rel_w;
    private readonly Parameter? register_tokens;
    private readonly Parameter? register_tokens_v;

    public BotMhsa2d(int dim, int side, int heads = 4, int registerTokens = 0, bool scaleLogits = false) : base(nameof(BotMhsa2d))
    {
        if (dim % heads != 0) throw new ArgumentException($"dim {dim} must be divisible by heads {heads}.", nameof(dim));
        if (side < 1) throw new ArgumentOutOfRangeException(nameof(side), side, "expected ≥ 1");
        Dim = dim; Side = side; Heads = heads; RegisterTokens = registerTokens; ScaleLogits = scaleLogits;
        int d = dim / heads, np = side * side;
        Q = Conv2d(dim, dim, 1);
        K = Conv2d(dim, dim, 1);
        V = Conv2d(dim, dim, 1);
        rel_h = Parameter(randn([1, heads, d, 1, side]));   // randn (std 1), as upstream
        rel_w = Parameter(randn([1, heads, d, side, 1]));
        if (registerTokens > 0)
        {
            register_tokens = Parameter(randn(registerTokens, np, np));
            register_tokens_v = Parameter(randn(registerTokens, d, np));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Dim || x.shape[2] != Side || x.shape[3] != Side)
            throw new ArgumentException($"BotMhsa2d was built for (batch, {Dim}, {Side}, {Side}) (its position and register " +
                $"parameters depend on the side); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var scope = NewDisposeScope();
        long b = x.shape[0], d = Dim / Heads, np = (long)Side * Side;
        // The 1×1 projections as Gemm products in float32 inference (Ops/PointwiseConv; the modules otherwise).
        var q = Ops.PointwiseConv.Apply(Q, x).view(b, Heads, d, np);
        var k = Ops.PointwiseConv.Apply(K, x).view(b, Heads, d, np);
        var v = Ops.PointwiseConv.Apply(V, x).view(b, Heads, d, np);
        var kernels = Runtime.KernelOptions.Current;
        bool blocked = kernels.MhsaRowBlocks ?? (np > kernels.MhsaRowBlock && get_num_threads() == 1);
        double scale = 1.0 / Math.Sqrt(d);                                              // only with ScaleLogits
        Tensor o;
        if (Factorised(q))
        {
            // r_i·q_j = rel_w[i / S]·q_j + rel_h[i % S]·q_j: the position logits are 2S rows pos = [rel_w; rel_h]ᵀ·q added
            // in the softmax (Ops/RowSoftmax), so the logits' product is qᵀk over d rows instead of [q; r]ᵀ[k; q] over 2d.
            var rel = cat([rel_w.view(1, Heads, d, Side), rel_h.view(1, Heads, d, Side)], dim: 3).transpose(-2, -1);   // (1, h, 2S, d)
            var pos = matmul(ScaleLogits ? rel.Times(scale) : rel, q).contiguous();                                  // (b, h, 2S, Np)
            var qs = ScaleLogits ? q.Times(scale) : q;
            o = blocked
                ? AttendByRowBlocks(qs, k, v, pos, Side, Ops.Gemm.MatMulApplies(q, k), kernels.MhsaRowBlock)
                : matmul(v, Ops.RowSoftmax.ApplyInPlace(matmul(qs.transpose(-2, -1), k), pos, Side).transpose(-2, -1));
        }
        else
        {
            var r = rel_h.Plus(rel_w).view(1, Heads, d, np).expand(b, -1, -1, -1);
            // energy[i, j] = q_i·k_j + r_i·q_j as ONE product [q; r]ᵀ[k; q] over 2d rows: the same MACs as the two
            // matmuls of upstream, without a second Np×Np product and the add (memory-bound at Np = 784).
            var left = cat([q, r], dim: 2);
            if (ScaleLogits) left = left.Times(scale);                                          // scale the small factor, not Np×Np
            var right = cat([k, q], dim: 2);
            o = blocked
                ? AttendByRowBlocks(left, right, v, null, Side, gemm: false, kernels.MhsaRowBlock)
                : matmul(v, nn.functional.softmax(matmul(left.transpose(-2, -1), right), -1).transpose(-2, -1));   // (B, h, d, Np)
        }
        return o.reshape(b, Dim, Side, Side).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same attention as the batched path, one (image, head) and <see cref="Runtime.KernelOptions.MhsaRowBlock"/> query rows at a time, so the
    /// logits and probabilities (4·784² floats per image at side 28) never exist whole: the working set stays in cache.
    /// Each output column is computed from exactly the same products and softmax row as in the batched path. Used on a
    /// single libtorch thread (e.g. the inter-op workers; the extra ops would each wake the OpenMP workers otherwise) and
    /// only when Np &gt; <see cref="Runtime.KernelOptions.MhsaRowBlock"/> (at side 14 the per-head ops cost more than the cache saves).
    /// energy = rows of leftᵀ · right, plus the position logits of <paramref name="pos"/> when given (the factorised
    /// form, <see cref="Ops.RowSoftmax.ApplyInPlace(Tensor, Tensor, int, long)"/>). With <paramref name="gemm"/> (float32
    /// inference on AVX-512) the products run on <see cref="Ops.Gemm"/> (libtorch's MKL takes its AVX2 path on this
    /// CPU): energy = Gemm.MatMul(rows, right), softmax in place and out = Gemm.Linear(v, attn) = v·attnᵀ, the same sums
    /// in another order (parity tests, not bitwise). Not at side ≤ 14 or on 2 threads, where the per-head calls cost
    /// more than the faster products save (measured: batched libtorch 1.6 vs 2.5 ms at side 14 on 2 threads).
    /// </summary>
    static Tensor AttendByRowBlocks(Tensor left, Tensor right, Tensor v, Tensor? pos, int side, bool gemm, long rowBlock)
    {
        long b = left.shape[0], h = left.shape[1], d = v.shape[2], np = v.shape[3];
        var o = empty(b, h, d, np, dtype: v.dtype, device: v.device);
        for (long i = 0; i < b; i++)
        for (long j = 0; j < h; j++)
        {
            using var scope = NewDisposeScope();
            var lt = left[i, j].transpose(0, 1);                                       // (Np, d or 2d)
            if (gemm) lt = lt.contiguous();                                            // dense rows: Gemm.MatMul's weight
            var kj = right[i, j];
            var vj = v[i, j];
            var oj = o[i, j];
            var pj = pos?[i, j];                                                       // (2S, Np)
            for (long r0 = 0; r0 < np; r0 += rowBlock)
            {
                long n = Math.Min(rowBlock, np - r0);
                var rows = lt.narrow(0, r0, n);
                var energy = gemm ? Ops.Gemm.MatMul(rows, kj) : matmul(rows, kj);      // (n, Np)
                var attn = pj is null ? functional.softmax(energy, -1) : Ops.RowSoftmax.ApplyInPlace(energy, pj, side, r0);
                oj.narrow(1, r0, n).copy_(gemm ? Ops.Gemm.Linear(vj, attn) : matmul(vj, attn.transpose(0, 1)));   // (d, n)
            }
        }
        return o;
    }

    /// <summary>The factorised position logits apply: float32 inference with the softmax kernel on this CPU (else the
    /// [q; r]ᵀ[k; q] product, the twin, which autograd also differentiates).</summary>
    bool Factorised(Tensor q) => Runtime.KernelOptions.Current.MhsaFactorisedPositions && Ops.RowSoftmax.KernelSupported
        && q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32
        && !(is_grad_enabled() && (q.requires_grad || rel_h.requires_grad || rel_w.requires_grad));
}
