using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// The selective scan with no per-step loop, in plain tensor ops: Mamba-2's chunked state-space-duality form
/// (Dao &amp; Gu 2024, §6; <c>mamba_ssm/modules/ssd_minimal.py</c>) adapted to Mamba-1's diagonal A, where every
/// (batch, channel, state) row is its own scalar recurrence <c>h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t</c>,
/// <c>y_t = C_t·h_t + D u_t</c> (Mamba §3.2, Algorithm 2). Autograd differentiates it; it is the path for devices
/// without a kernel and the form an exporter can emit.
/// </summary>
/// <remarks>
/// L is split into chunks of Q. Inside a chunk, <c>h_t = Σ_{s≤t} exp(S_t − S_s) x_s</c> with S the chunk's
/// cumulative sum of Δ·A: a lower-triangular Q×Q decay per row (ssd_minimal's <c>segsum</c>). The chunk-end states
/// obey the same recurrence one level up (decay exp(S_Q), input the chunk's own end state), solved by the same
/// function on L/Q steps, so the depth is log_Q L and no loop runs over L or over chunks. Every exponent is a
/// difference S_t − S_s with s ≤ t or a prefix sum, hence ≤ 0 for A·Δ ≤ 0; the s &gt; t entries are set to −∞
/// before exp (never a ratio w_t/w_s, which overflows). Cost: Q exps and Q multiply-adds per (b, d, n, t), and
/// a (rows, Q, Q) transient per block of rows, bounded by <see cref="BlockElements"/>.
/// </remarks>
public static class SelectiveScanChunked
{
    /// <summary>
    /// Chunk length Q used when none is given. Work and the decay tensor grow like Q per step, the depth (ops
    /// launched) like log_Q L; on the CPU Q = 4 needs 1.0–1.6× less CPU time than Q = 8 and 1.9–2.7× less than Q = 16
    /// at every bench shape (bench `scan-chunked`). Devices that pay per launched op may prefer a larger Q.
    /// </summary>
    public const int DefaultChunkLength = 4;

    /// <summary>Rows (b, d, n) are processed in blocks so one block's (rows, L/Q, Q, Q) decay stays under this many elements.</summary>
    public const long BlockElements = 1L << 23;

    /// <summary>Returns y (batch, D, L); arguments and layouts as <see cref="SelectiveScan.Apply"/>.</summary>
    public static Tensor Apply(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false)
    {
        var (y, last) = Apply(ScanArguments.Validate(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus));
        last.Dispose();
        return y;
    }

    /// <summary>Returns y (batch, D, L) and the final state h_L (batch, D, N); no gradient flows through the state.</summary>
    public static (Tensor y, Tensor lastState) ApplyWithLastState(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false) =>
        Apply(ScanArguments.Validate(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus));

    /// <summary>y and the detached last state for validated arguments, with chunks of <paramref name="chunkLength"/> steps.</summary>
    public static (Tensor y, Tensor lastState) Apply(ScanArguments a, int chunkLength = DefaultChunkLength)
    {
        if (chunkLength < 2) throw new ArgumentOutOfRangeException(nameof(chunkLength), chunkLength, "chunk length must be at least 2");
        long b = a.Batch, d = a.Channels, n = a.States, l = a.Length;
        if (a.U.numel() == 0)
            return (zeros_like(a.U), zeros(b, d, n, dtype: a.U.dtype, device: a.U.device));
        using var scope = NewDisposeScope();
        Tensor dt = a.DeltaBias is null ? a.Delta : a.Delta.Plus(a.DeltaBias.unsqueeze(-1));
        if (a.DeltaSoftplus) dt = nn.functional.softplus(dt, beta: 1, threshold: 20);

        Tensor logDecay = dt.unsqueeze(2) * a.A.unsqueeze(-1);          // (b, D, N, L)  Δ_t A, ZOH exponent
        Tensor input = PerChannel((dt * a.U).unsqueeze(2), a.B);        // (b, D, N, L)  Δ_t B_t u_t, Euler for B
        Tensor h = Recurrence(logDecay.reshape(-1, l), input.reshape(-1, l), chunkLength).reshape(b, d, n, l);

        Tensor y = Readout(h, a.C);                                     // y_t = C_t · h_t
        if (a.D is not null) y = y.Plus(a.D.unsqueeze(-1) * a.U);
        if (a.Z is not null) y = y * nn.functional.silu(a.Z);
        return (y.MoveToOuterDisposeScope(), h.select(-1, l - 1).detach().clone().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// All states of <c>h_t = exp(w_t) h_{t-1} + x_t</c>, h_{-1} = 0, row by row: w, x (rows, L) → h (rows, L).
    /// Padding w and x with zeros (Δ = 0: decay exp(0) = 1, no input) leaves h_{0..L-1} unchanged.
    /// </summary>
    internal static Tensor Recurrence(Tensor w, Tensor x, int q)
    {
        long rows = w.shape[0], l = w.shape[1];
        if (l <= q)
            return Intra(w.cumsum(-1).unsqueeze(1), x.unsqueeze(1)).squeeze(1);
        long chunks = (l + q - 1) / q, padded = chunks * q;
        if (padded != l)
        {
            w = nn.functional.pad(w, [0, padded - l]);
            x = nn.functional.pad(x, [0, padded - l]);
        }
        Tensor s = w.reshape(rows, chunks, q).cumsum(-1);                 // S_t within each chunk, ≤ 0
        Tensor local = Intra(s, x.reshape(rows, chunks, q));              // h with a zero state at each chunk start
        // Chunk c ends in H_c = exp(S_Q) H_{c-1} + local_c[Q-1]: the same recurrence on L/Q steps.
        Tensor ends = Recurrence(s.select(-1, q - 1), local.select(-1, q - 1), q);
        Tensor carried = nn.functional.pad(ends.narrow(-1, 0, chunks - 1), [1, 0]);   // H_{c-1}, H_{-1} = 0
        Tensor h = local.Plus(exp(s) * carried.unsqueeze(-1));
        return h.view(rows, padded).narrow(-1, 0, l);
    }

    /// <summary>
    /// Within-chunk states from a zero start: <c>h_t = Σ_{s≤t} exp(S_t − S_s) x_s</c> for S (rows, chunks, Q) the
    /// chunk-local cumulative log-decay; blocked over rows to bound the (rows, chunks, Q, Q) decay tensor.
    /// </summary>
    static Tensor Intra(Tensor s, Tensor x)
    {
        long rows = s.shape[0], chunks = s.shape[1], q = s.shape[2];
        using var scope = NewDisposeScope();
        // One GEMM gives every S_t − S_s: column (t, s) of `pairs` is e_t − e_s for s ≤ t and 0 above the diagonal,
        // where `mask` adds −∞ so exp gives 0 there (and a zero gradient) without ever exponentiating S_t − S_s > 0.
        Tensor eye = torch.eye(q, dtype: s.dtype, device: s.device);
        Tensor above = ones(q, q, dtype: ScalarType.Bool, device: s.device).triu(1);
        Tensor pairs = (eye.view(q, q, 1) - eye.view(q, 1, q)).masked_fill(above, Scalars.Zero).reshape(q, q * q);
        Tensor mask = zeros(q, q, dtype: s.dtype, device: s.device).masked_fill(above, Scalars.NegativeInfinity).reshape(q * q);
        long block = Math.Max(1, BlockElements / (chunks * q * q));
        Tensor h;
        if (block >= rows) h = Block(s, x);
        else
        {
            var parts = new List<Tensor>();
            for (long r = 0; r < rows; r += block)
            {
                long m = Math.Min(block, rows - r);
                parts.Add(Block(s.narrow(0, r, m), x.narrow(0, r, m)));
            }
            h = cat(parts, 0);
        }
        return h.MoveToOuterDisposeScope();

        Tensor Block(Tensor s, Tensor x)
        {
            long m = s.shape[0];
            Tensor decay = addmm(mask, s.reshape(-1, q), pairs, 1, 1).view(m, chunks, q, q).exp_();   // exp(S_t − S_s), 0 for s > t
            return matmul(decay, x.unsqueeze(-1)).squeeze(-1);                                          // Σ_{s≤t} decay · x_s
        }
    }

    /// <summary>v (batch, D, 1, L) times B (batch, N, L) or grouped (batch, G, N, L), channel d in group d / (D/G) → (batch, D, N, L).</summary>
    static Tensor PerChannel(Tensor v, Tensor bc)
    {
        if (bc.dim() == 3) return v * bc.unsqueeze(1);
        long batch = v.shape[0], d = v.shape[1], g = bc.shape[1], n = bc.shape[2], l = bc.shape[3];
        return (v.view(batch, g, d / g, 1, l) * bc.unsqueeze(2)).view(batch, d, n, l);
    }

    /// <summary>Σ_n C_t[n] h_t[n]: h (batch, D, N, L), C ungrouped or grouped → (batch, D, L).</summary>
    static Tensor Readout(Tensor h, Tensor c)
    {
        if (c.dim() == 3) return (h * c.unsqueeze(1)).sum(2);
        long batch = h.shape[0], d = h.shape[1], g = c.shape[1], n = h.shape[2], l = h.shape[3];
        return (h.reshape(batch, g, d / g, n, l) * c.unsqueeze(2)).sum(3).reshape(batch, d, l);
    }
}
