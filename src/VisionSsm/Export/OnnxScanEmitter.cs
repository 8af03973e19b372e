using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// The selective scan as an ONNX subgraph with no loop: the chunked form of <see cref="Ops.SelectiveScanChunked"/>
/// (Mamba-2's segment sums, Dao &amp; Gu 2024 §6, adapted to Mamba-1's diagonal A; docs/selective-scan.md §5.6), unrolled
/// at export time because L is known. Each (batch, channel, state) row obeys <c>h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t</c>.
/// L is cut into chunks of Q; inside a chunk <c>h_t = Σ_{s≤t} exp(S_t − S_s) x_s</c> with S the chunk's cumulative sum of
/// Δ·A, the entries s &gt; t set to −∞ by a lower-triangular mask before exp, so no exponent is ever positive. The
/// chunk-end states obey the same recurrence on ⌈L/Q⌉ steps and are solved the same way, one level per factor Q,
/// until a level fits in one chunk. Arguments as <see cref="Ops.SelectiveScan.Apply"/>; parameters are constants.
/// </summary>
public static class OnnxScanEmitter
{
    /// <param name="u">(B, D, L)</param>
    /// <param name="delta">(B, D, L), before the bias and softplus</param>
    /// <param name="a">A (D, N), already negative (−exp(A_log)): a constant</param>
    /// <param name="b">(B, N, L) or grouped (B, G, N, L)</param>
    /// <param name="c">as <paramref name="b"/></param>
    /// <param name="d">the skip weights (D), or null</param>
    /// <param name="z">the gate (B, D, L), or null</param>
    /// <param name="deltaBias">(D), or null</param>
    /// <returns>y (B, D, L)</returns>
    public static OnnxValue Emit(OnnxGraph g, OnnxValue u, OnnxValue delta, Tensor a, OnnxValue b, OnnxValue c, Tensor? d, OnnxValue? z,
        Tensor? deltaBias, bool deltaSoftplus, int chunkLength, string hint)
    {
        long dim = u[1], l = u[2], n = a.shape[1];
        if (a.shape[0] != dim) throw new ArgumentException($"A has {a.shape[0]} rows; expected D = {dim}.", nameof(a));
        bool grouped = b.Rank == 4;
        long groups = grouped ? b[1] : 1;
        if (b[-2] != n || b[-1] != l || c[-2] != n || c[-1] != l)
            throw new ArgumentException($"B {OnnxGraph.Fmt(b.Shape)} / C {OnnxGraph.Fmt(c.Shape)} do not match N = {n}, L = {l}.", nameof(b));
        if (dim % groups != 0) throw new ArgumentException($"D = {dim} is not a multiple of the {groups} groups of B and C.", nameof(b));

        var dt = deltaBias is null ? delta : g.Add(delta, g.Weight(deltaBias.reshape(dim, 1), hint + ".delta_bias"));
        if (deltaSoftplus) dt = g.Unary("Softplus", dt);
        var logDecay = g.Mul(g.Unsqueeze(dt, 2), g.Weight(a.reshape(dim, n, 1), hint + ".A"));      // (B, D, N, L): Δ_t A ≤ 0
        var dtu = g.Mul(dt, u);
        OnnxValue input = grouped                                                                    // Δ_t B_t u_t
            ? g.Mul(g.Reshape(dtu, -1, groups, dim / groups, 1, l), g.Unsqueeze(b, 2))                // (B, G, D/G, N, L)
            : g.Mul(g.Unsqueeze(dtu, 2), g.Unsqueeze(b, 1));                                          // (B, D, N, L)
        // Rows (batch, channel, state) in the same order for both: channel d of group d / (D/G).
        var h = Recurrence(g, g.Reshape(logDecay, -1, l), g.Reshape(input, -1, l), chunkLength);

        OnnxValue y = grouped                                                                        // y_t = C_t · h_t
            ? g.Reshape(g.ReduceSum(g.Mul(g.Reshape(h, -1, groups, dim / groups, n, l), g.Unsqueeze(c, 2)), 3, keepDims: false), -1, dim, l)
            : g.ReduceSum(g.Mul(g.Reshape(h, -1, dim, n, l), g.Unsqueeze(c, 1)), 2, keepDims: false);
        if (d is not null) y = g.Add(y, g.Mul(u, g.Weight(d.reshape(dim, 1), hint + ".D")));
        if (z is not null) y = g.Mul(y, g.Silu(z));
        return y;
    }

    /// <summary>All states of <c>h_t = exp(w_t) h_{t−1} + x_t</c>, h_{−1} = 0, per row: w, x (rows, L) → (rows, L).</summary>
    internal static OnnxValue Recurrence(OnnxGraph g, OnnxValue w, OnnxValue x, int q)
    {
        long l = w[1];
        if (l <= q)
            return g.Reshape(Intra(g, g.CumSum(g.Reshape(w, -1, 1, l), -1), g.Reshape(x, -1, 1, l)), -1, l);
        long chunks = (l + q - 1) / q, padded = chunks * q;
        if (padded != l)
        {
            // Δ = 0 past the end: decay exp(0) = 1 and no input, so the first L states are unchanged.
            w = g.PadLast(w, 0, padded - l);
            x = g.PadLast(x, 0, padded - l);
        }
        var s = g.CumSum(g.Reshape(w, -1, chunks, q), -1);                      // S_t within each chunk, ≤ 0
        var local = Intra(g, s, g.Reshape(x, -1, chunks, q));                   // zero state at each chunk start
        // Chunk k ends in H_k = exp(S_Q) H_{k−1} + local_k[Q−1]: the same recurrence on L/Q steps.
        var ends = Recurrence(g, g.Select(s, -1, q - 1), g.Select(local, -1, q - 1), q);
        var carried = g.PadLast(g.Slice(ends, -1, 0, chunks - 1), 1, 0);       // H_{k−1}, H_{−1} = 0
        var h = g.Add(local, g.Mul(g.Unary("Exp", s), g.Unsqueeze(carried, -1)));
        var flat = g.Reshape(h, -1, padded);
        return padded == l ? flat : g.Slice(flat, -1, 0, l);
    }

    /// <summary>Within-chunk states from a zero start, s and x (rows, chunks, Q): h_t = Σ_{s'≤t} exp(S_t − S_s') x_s'.</summary>
    static OnnxValue Intra(OnnxGraph g, OnnxValue s, OnnxValue x)
    {
        long q = s[-1];
        var diff = g.Sub(g.Unsqueeze(s, -1), g.Unsqueeze(s, -2));               // [t, s'] = S_t − S_s'
        var decay = g.Unary("Exp", g.Add(diff, CausalMask(g, q)));              // −∞ above the diagonal: exp → 0
        return g.ReduceSum(g.Mul(decay, g.Unsqueeze(x, -2)), -1, keepDims: false);
    }

    /// <summary>(Q, Q): 0 on and below the diagonal, −∞ above it.</summary>
    static OnnxValue CausalMask(OnnxGraph g, long q)
    {
        var m = new float[q * q];
        for (long t = 0; t < q; t++)
            for (long s = t + 1; s < q; s++) m[t * q + s] = float.NegativeInfinity;
        return g.FloatTensor(m, [q, q], $"causal_mask_{q}");
    }
}
