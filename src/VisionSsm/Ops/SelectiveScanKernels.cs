using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static VisionSsm.Ops.FastMath;

namespace VisionSsm.Ops;

/// <summary>
/// The forward and backward SIMD loops of the CPU selective scan for one call. Layouts are mamba_ssm's (all
/// row-major, contiguous): u, Δ, z, y (batch, D, L); B, C (batch, G, N, L); A (D, N). Each work unit (batch b,
/// channel block k) transposes time tiles of its W channels into lanes (channels-last inside the kernel, so the
/// recurrence vectorises over D for any N), scans, and transposes the results back.
/// Pointers are raw: the caller keeps every tensor alive for the duration of the call.
/// </summary>
internal sealed unsafe class ScanKernel<T> where T : unmanaged
{
    static int W => Vector256<T>.Count;

    readonly ScanPlan p;
    // inputs
    public T* U, Delta, Z, B, C;
    // forward outputs: y, last state (batch, D, N), chunk-end states (units, chunks − 1, N, W) or null
    public T* Y, Last, Saved;
    /// <summary>Write y with non-temporal stores (set for outputs much larger than the cache, rows 32-byte aligned).</summary>
    public bool StreamY;
    /// <summary>Pairs of blocks in Vector512 registers (<see cref="ForwardPair"/>, <see cref="BackwardPair"/>): float,
    /// AVX-512 and <see cref="Runtime.KernelOptions.ScanVector512"/> (read here, on the calling thread).</summary>
    readonly bool v512 = typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && Runtime.KernelOptions.Current.ScanVector512;
    /// <summary>Float on AVX: the forward's per-step elementwise math (softplus of Δ, the SiLU gate) of a tile runs two
    /// vectors at a time on <see cref="VectorPair256"/> before the recurrence (<see cref="PrepareDelta"/>,
    /// <see cref="PrepareGate"/>); otherwise (double) one vector at a time. The backward's runs one vector at a time in
    /// <see cref="PrepareBackwardTiles"/>.</summary>
    readonly bool pairMath = typeof(T) == typeof(float) && Avx.IsSupported;
    // backward: grad of y in, gradients out; dA/dD/dBias as per-batch partial sums (batch, D, N) / (batch, D)
    public T* G, DU, DDelta, DZ, DAPart, DDPart, DBiasPart;
    // per-block lane vectors: A (blocks, N), D skip (blocks), Δ bias (blocks), A·log2 e for the float exp (blocks, N); padded lanes are 0
    readonly Vector256<T>* aV, dV, biasV, a2V;
    readonly void* prepared;

    public ScanKernel(ScanPlan plan, T* a, T* dSkip, T* bias)
    {
        p = plan;
        int n = p.States;
        prepared = NativeMemory.AlignedAlloc((nuint)((p.Blocks * (2 * n + 2)) * sizeof(Vector256<T>)), 64);
        NativeMemory.Clear(prepared, (nuint)((p.Blocks * (2 * n + 2)) * sizeof(Vector256<T>)));
        aV = (Vector256<T>*)prepared;
        dV = aV + p.Blocks * n;
        biasV = dV + p.Blocks;
        a2V = biasV + p.Blocks;
        for (int k = 0; k < p.Blocks; k++)
            for (int c = 0; c < p.BlockCount[k]; c++)
            {
                int d = p.BlockStart[k] + c;
                for (int s = 0; s < n; s++)
                {
                    ((T*)(aV + k * n + s))[c] = a[(long)d * n + s];
                    ((T*)(a2V + k * n + s))[c] = Log2E(a[(long)d * n + s]);
                }
                if (dSkip != null) ((T*)(dV + k))[c] = dSkip[d];
                if (bias != null) ((T*)(biasV + k))[c] = bias[d];
            }
    }

    public void Free() => NativeMemory.AlignedFree(prepared);

    /// <summary>Scratch vectors one thread needs for <see cref="ForwardUnit"/> and <see cref="BackwardUnit"/>.</summary>
    public int ScratchVectors => 6 * p.States + 12 * p.Chunk + 4 * p.Chunk * p.States;

    /// <summary>
    /// Forward of one (batch, block) unit, docs/selective-scan.md §2: dt = softplus(Δ + bias); h_t = exp(dt·A)·h_{t-1} +
    /// dt·B_t·u_t; y_t = C_t·h_t + D·u_t; y_t·silu(z_t). Stores the chunk-end states when <see cref="Saved"/> is set.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void ForwardUnit(int unit, Vector256<T>* scratch)
    {
        int n = p.States, len = p.Length, chunk = p.Chunk;
        var (b, k, d0, cw, row, bOff, cOff) = Locate(unit);
        var h = scratch;                   // per state: h and its exp coefficient (ExpCoefficient)
        var tu = h + 2 * n;
        var tdt = tu + chunk;
        var tz = tdt + chunk;
        var ty = tz + chunk;
        for (int s = 0; s < n; s++)
        {
            h[2 * s] = Vector256<T>.Zero;
            h[2 * s + 1] = ExpCoefficient(k * n + s);
        }

        T* bp = B + bOff;
        long cDiff = C + cOff - bp;         // C_t's state s lies cDiff elements after B_t's
        var dSkip = dV[k];
        var bias = biasV[k];
        bool hasD = p.HasD, hasZ = p.HasZ, softplus = p.Softplus;
        bool pairs = pairMath;

        for (int c = 0, t0 = 0; t0 < len; c++, t0 += chunk)
        {
            int tc = Math.Min(chunk, len - t0);
            LoadTile(U + row, len, t0, tc, cw, tu);
            LoadTile(Delta + row, len, t0, tc, cw, tdt);
            if (pairs) PrepareDelta(tdt, tc, bias, softplus);
            else
                for (int j = 0; j < tc; j++)
                    tdt[j] = softplus ? Softplus(tdt[j] + bias) : tdt[j] + bias;
            if (hasZ)
            {
                LoadTile(Z + row, len, t0, tc, cw, tz);
                if (pairs) PrepareGate(tz, tc);
            }

            for (int j = 0; j < tc; j++)
            {
                var uj = tu[j];
                var acc = ForwardStep(tdt[j], tdt[j] * uj, h, bp + t0 + j, cDiff, len, n);
                if (hasD) acc = Fma(dSkip, uj, acc);
                if (hasZ) acc *= pairs ? tz[j] : tz[j] * Sigmoid(tz[j]);      // tz holds silu(z) with pairs
                ty[j] = acc;
            }
            StoreTile(ty, tc, cw, Y + row, len, t0, StreamY);
            if (Saved != null && t0 + chunk < len)
            {
                var dst = (Vector256<T>*)Saved + ((long)unit * (p.Chunks - 1) + c) * n;
                for (int s = 0; s < n; s++) dst[s] = h[2 * s];
            }
        }
        if (StreamY) System.Runtime.Intrinsics.X86.Sse.StoreFence();
        for (int s = 0; s < n; s++)
            for (int l = 0; l < cw; l++)
                Last[((long)b * p.Channels + d0 + l) * n + s] = ((T*)(h + 2 * s))[l];
    }

    /// <summary>
    /// Forward of two full blocks of one batch that share their B and C groups, side by side in 512-bit vectors
    /// (float, AVX-512, N ≥ 2): 16 channels per state, so B_t and C_t are single broadcasts serving both blocks. Same
    /// math, same outputs and chunk-end states as <see cref="ForwardUnit"/> on each block.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void ForwardPair(int unitA, int unitB, Vector256<T>* scratch)
    {
        int n = p.States, len = p.Length, chunk = p.Chunk;
        var (b, kA, d0A, _, rowA, bOff, cOff) = Locate(unitA);
        var (_, kB, d0B, _, rowB, _, _) = Locate(unitB);
        var h = (Vector512<float>*)scratch;                // per state: h and A·log2 e (Exp2F) of the 16 channels
        var tu = (Vector256<T>*)(h + 2 * n);
        Vector256<T>* tdt = tu + chunk, tz = tdt + chunk, ty = tz + chunk;
        Vector256<T>* tu2 = ty + chunk, tdt2 = tu2 + chunk, tz2 = tdt2 + chunk, ty2 = tz2 + chunk;
        for (int s = 0; s < n; s++)
        {
            h[2 * s] = Vector512<float>.Zero;
            h[2 * s + 1] = Join(a2V[kA * n + s], a2V[kB * n + s]);
        }
        var bp = (float*)(B + bOff);
        long cDiff = (long)((float*)(C + cOff) - bp);       // C_t's state s lies cDiff floats after B_t's
        var dSkip = Join(dV[kA], dV[kB]);
        Vector256<T> biasA = biasV[kA], biasB = biasV[kB];
        bool hasD = p.HasD, hasZ = p.HasZ, softplus = p.Softplus;

        for (int c = 0, t0 = 0; t0 < len; c++, t0 += chunk)
        {
            int tc = Math.Min(chunk, len - t0);
            LoadTile(U + rowA, len, t0, tc, W, tu);
            LoadTile(U + rowB, len, t0, tc, W, tu2);
            LoadTile(Delta + rowA, len, t0, tc, W, tdt);
            LoadTile(Delta + rowB, len, t0, tc, W, tdt2);
            PrepareDeltaPair(tdt, tdt2, null, null, tc, biasA, biasB, softplus);
            if (hasZ)
            {
                LoadTile(Z + rowA, len, t0, tc, W, tz);
                LoadTile(Z + rowB, len, t0, tc, W, tz2);
                PrepareGatePair(tz, tz2, null, null, tc);
            }

            for (int j = 0; j < tc; j++)
            {
                var dt = Join(tdt[j], tdt2[j]);
                var uj = Join(tu[j], tu2[j]);
                var dtu = dt * uj;
                var acc = ForwardStep(dt, dtu, h, bp + t0 + j, cDiff, len, n);
                if (hasD) acc = Vector512.FusedMultiplyAdd(dSkip, uj, acc);
                Vector256<T> lo = acc.GetLower().As<float, T>(), hi = acc.GetUpper().As<float, T>();
                if (hasZ)
                {
                    lo *= tz[j];                             // silu(z) (PrepareGatePair)
                    hi *= tz2[j];
                }
                ty[j] = lo;
                ty2[j] = hi;
            }
            StoreTile(ty, tc, W, Y + rowA, len, t0, StreamY);
            StoreTile(ty2, tc, W, Y + rowB, len, t0, StreamY);
            if (Saved != null && t0 + chunk < len)
            {
                var dstA = (Vector256<T>*)Saved + ((long)unitA * (p.Chunks - 1) + c) * n;
                var dstB = (Vector256<T>*)Saved + ((long)unitB * (p.Chunks - 1) + c) * n;
                for (int s = 0; s < n; s++)
                {
                    dstA[s] = h[2 * s].GetLower().As<float, T>();
                    dstB[s] = h[2 * s].GetUpper().As<float, T>();
                }
            }
        }
        if (StreamY) System.Runtime.Intrinsics.X86.Sse.StoreFence();
        for (int s = 0; s < n; s++)
        {
            Vector256<T> lo = h[2 * s].GetLower().As<float, T>(), hi = h[2 * s].GetUpper().As<float, T>();
            for (int l = 0; l < W; l++)
            {
                Last[((long)b * p.Channels + d0A + l) * n + s] = lo.GetElement(l);
                Last[((long)b * p.Channels + d0B + l) * n + s] = hi.GetElement(l);
            }
        }
    }

    /// <summary>Whether <see cref="ForwardPair"/> runs on this machine for this call (float, AVX-512, N ≥ 2).</summary>
    public bool PairsBlocks => typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && p.States >= 2 && v512;

    /// <summary>The work items of the forward and the backward: (unit, partner unit) for pairs of adjacent full blocks of
    /// one batch in the same B and C groups when <see cref="PairsBlocks"/> (<see cref="ForwardPair"/>,
    /// <see cref="BackwardPair"/>), else (unit, −1).</summary>
    public (int a, int b)[] WorkItems()
    {
        var items = new List<(int, int)>(p.Units);
        for (int bt = 0; bt < p.Batch; bt++)
            for (int k = 0; k < p.Blocks; k++)
            {
                int u = bt * p.Blocks + k;
                if (PairsBlocks && k + 1 < p.Blocks && p.BlockCount[k] == W && p.BlockCount[k + 1] == W
                    && p.GroupOfB(k) == p.GroupOfB(k + 1) && p.GroupOfC(k) == p.GroupOfC(k + 1))
                {
                    items.Add((u, u + 1));
                    k++;
                }
                else items.Add((u, -1));
            }
        return [.. items];
    }

    /// <summary>
    /// Backward of one unit, docs/selective-scan.md §3, chunk by chunk from the end: recompute h and exp(dt·A) inside
    /// the chunk from the saved state at its start, then the reverse scan dh_t = C_t·gy_t + exp(dt_{t+1}A)·dh_{t+1}
    /// and the input gradients. dB, dC go to this thread's accumulators <paramref name="dB"/>, <paramref name="dC"/>.
    /// The buffers are laid out as <see cref="BackwardPair"/>'s (interleaved per state, walked by one pointer each).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void BackwardUnit(int unit, Vector256<T>* scratch, T* dB, T* dC)
    {
        int n = p.States, len = p.Length, chunk = p.Chunk;
        var (b, k, d0, cw, row, bOff, cOff) = Locate(unit);
        var st = scratch;                   // per state: carry, dA accumulator, A, ExpCoefficient
        var hd = st + 4 * n;                // rows 0..chunk of (h, exp(dt·A)) per state; row 0: the chunk's start state
        var sbc = hd + 2 * (chunk + 1) * n; // (chunk, N) pairs: dh·dt·u and gy·h per lane, summed over lanes into dB, dC
        var tu = sbc + 2 * chunk * n;
        var tdt = tu + chunk;
        var tsp = tdt + chunk;              // softplus'(Δ + bias)
        var tz = tsp + chunk;               // silu(z)
        var tzg = tz + chunk;               // silu'(z)
        var tg = tzg + chunk;
        var tgy = tg + chunk;
        var tdu = tgy + chunk;
        var tdd = tdu + chunk;
        var tdz = tdd + chunk;
        for (int s = 0; s < n; s++)
        {
            st[4 * s] = Vector256<T>.Zero;
            st[4 * s + 1] = Vector256<T>.Zero;
            st[4 * s + 2] = aV[k * n + s];
            st[4 * s + 3] = ExpCoefficient(k * n + s);
        }

        T* bp = B + bOff;
        long cDiff = C + cOff - bp;         // C_t's state s lies cDiff elements after B_t's
        var dSkip = dV[k];
        var bias = biasV[k];
        bool hasD = p.HasD, hasZ = p.HasZ, softplus = p.Softplus;
        var dDacc = Vector256<T>.Zero;
        var dBiasAcc = Vector256<T>.Zero;

        PrefetchRows(row, cw);
        PrefetchSaved(unit, 1);
        for (int c = p.Chunks - 1; c >= 0; c--)
        {
            int t0 = c * chunk;
            int tc = Math.Min(chunk, len - t0);
            if (tc <= 0) continue;
            if (c == 0) for (int s = 0; s < n; s++) hd[2 * s] = Vector256<T>.Zero;
            else
            {
                var src = (Vector256<T>*)Saved + ((long)unit * (p.Chunks - 1) + c - 1) * n;
                for (int s = 0; s < n; s++) hd[2 * s] = src[s];
            }
            LoadTile(U + row, len, t0, tc, cw, tu);
            LoadTile(Delta + row, len, t0, tc, cw, tdt);
            LoadTile(G + row, len, t0, tc, cw, tg);
            if (hasZ) LoadTile(Z + row, len, t0, tc, cw, tz);
            PrepareBackwardTiles(tdt, tsp, hasZ ? tz : null, tzg, tc, bias, softplus);

            // Recompute the forward inside the chunk, keeping h_t and exp(dt_t A) for every step.
            for (int j = 0; j < tc; j++)
            {
                var uj = tu[j];
                var acc = RecomputeStep(tdt[j], tdt[j] * uj, st, hd + 2 * (j + 1) * n, bp + t0 + j, cDiff, len, n);
                if (hasD) acc = Fma(dSkip, uj, acc);           // y before the gate
                var g = tg[j];
                Vector256<T> gy = g;
                if (hasZ)
                {
                    tdz[j] = g * acc * tzg[j];                  // g·y·silu'(z)
                    gy = g * tz[j];                             // g·silu(z)
                }
                tgy[j] = gy;
                dDacc = Fma(gy, uj, dDacc);
            }

            // Reverse scan over the chunk.
            for (int j = tc - 1; j >= 0; j--)
            {
                var gy = tgy[j];
                var dt = tdt[j];
                var (sumB, ddt) = ReverseStep(gy, tu[j], dt, st, hd + 2 * (j + 1) * n, sbc + 2 * j * n, bp + t0 + j, cDiff, len, n);
                tdu[j] = hasD ? Fma(dSkip, gy, dt * sumB) : dt * sumB;
                var dd = softplus ? ddt * tsp[j] : ddt;
                tdd[j] = dd;
                dBiasAcc += dd;
            }
            StoreTile(tdu, tc, cw, DU + row, len, t0);
            StoreTile(tdd, tc, cw, DDelta + row, len, t0);
            if (hasZ) StoreTile(tdz, tc, cw, DZ + row, len, t0);

            // Sum the lanes (channels of this block) into dB, dC; padded lanes hold zeros (u = 0, g = 0).
            AddLaneSums(sbc, sbc + 1, 2, 2 * n, n, tc, dB + bOff + t0, dC + cOff + t0, len);
        }

        for (int l = 0; l < cw; l++)
        {
            long d = (long)b * p.Channels + d0 + l;
            for (int s = 0; s < n; s++) DAPart[d * n + s] = ((T*)(st + 4 * s + 1))[l];
            DDPart[d] = ((T*)&dDacc)[l];
            DBiasPart[d] = ((T*)&dBiasAcc)[l];
        }
    }

    /// <summary><see cref="BackwardUnit"/>'s elementwise math of a chunk, in place: dt = softplus(Δ + bias) (or Δ + bias)
    /// and softplus' into <paramref name="grad"/>; with z, silu(z) in place and silu'(z) = σ(z)(1 + z(1 − σ(z))) into
    /// <paramref name="zGrad"/>. Its own method so the kernel's inlining budget goes to the loops.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void PrepareBackwardTiles(Vector256<T>* dt, Vector256<T>* grad, Vector256<T>* z, Vector256<T>* zGrad, int tc,
        Vector256<T> bias, bool softplus)
    {
        var one = Splat<T>(1.0);
        for (int j = 0; j < tc; j++)
        {
            var x = dt[j] + bias;
            if (softplus) { dt[j] = SoftplusWithGrad(x, out var g); grad[j] = g; }
            else dt[j] = x;
            if (z != null)
            {
                var zv = z[j];
                var sig = Sigmoid(zv);
                zGrad[j] = sig * Fma(zv, one - sig, one);
                z[j] = zv * sig;
            }
        }
    }

    /// <summary>
    /// <see cref="BackwardUnit"/>'s recomputation of one step for all N states (<see cref="RecomputeStep(Vector512{float}, Vector512{float}, Vector512{float}*, Vector512{float}*, float*, long, int, int)"/>
    /// on W-lane vectors): h = exp(dt·A)·h_prev + dt·u·B into this step's (h, exp(dt·A)) row; returns Σ_n C_n·h_n.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> RecomputeStep(Vector256<T> dt, Vector256<T> dtu, Vector256<T>* st, Vector256<T>* row, T* bc, long cDiff, int len, int n)
    {
        long back = -2L * n;
        Vector256<T> acc0 = Vector256<T>.Zero, acc1 = Vector256<T>.Zero;
        int s = 0;
        for (; s + 2 <= n; s += 2, st += 8, row += 4, bc += 2L * len)
        {
            var da0 = ExpOf(dt, st[3]);
            var da1 = ExpOf(dt, st[7]);
            var v0 = Fma(da0, row[back], dtu * Vector256.Create(bc[0]));
            var v1 = Fma(da1, row[back + 2], dtu * Vector256.Create(bc[len]));
            row[0] = v0; row[1] = da0;
            row[2] = v1; row[3] = da1;
            acc0 = Fma(v0, Vector256.Create(bc[cDiff]), acc0);
            acc1 = Fma(v1, Vector256.Create(bc[cDiff + len]), acc1);
        }
        if (s < n)
        {
            var da0 = ExpOf(dt, st[3]);
            var v0 = Fma(da0, row[back], dtu * Vector256.Create(bc[0]));
            row[0] = v0; row[1] = da0;
            acc0 = Fma(v0, Vector256.Create(bc[cDiff]), acc0);
        }
        return acc0 + acc1;
    }

    /// <summary><see cref="BackwardUnit"/>'s reverse step for all N states, <see cref="ReverseStep(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}*, Vector512{float}*, Vector256{T}*, float*, long, int, int)"/>
    /// on W-lane vectors: returns (Σ_n dh·B, Σ_n dh·(B·u + A·exp(dt·A)·h_prev)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<T> sumB, Vector256<T> ddt) ReverseStep(Vector256<T> gy, Vector256<T> uj, Vector256<T> dt,
        Vector256<T>* st, Vector256<T>* row, Vector256<T>* sbc, T* bc, long cDiff, int len, int n)
    {
        long back = -2L * n;
        var sumB = Vector256<T>.Zero;
        var ddt = Vector256<T>.Zero;
        var dtu = dt * uj;
        for (int s = 0; s < n; s++, st += 4, row += 2, sbc += 2, bc += len)
        {
            var bv = Vector256.Create(bc[0]);
            var dh = Fma(Vector256.Create(bc[cDiff]), gy, st[0]);
            var da = row[1];
            var hA = da * row[back];                                         // exp(dt A) h_{t-1}
            sumB = Fma(dh, bv, sumB);
            ddt = Fma(dh, Fma(bv, uj, st[2] * hA), ddt);
            st[1] = Fma(dh * dt, hA, st[1]);
            sbc[0] = dh * dtu;
            sbc[1] = gy * row[0];
            st[0] = da * dh;
        }
        return (sumB, ddt);
    }

    /// <summary>
    /// The backward's chunks read a unit's rows of u, Δ, g and z from the end backwards, which the hardware prefetcher
    /// does not follow: request the <paramref name="rows"/> rows from <paramref name="row"/> in forward order first (into L2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void PrefetchRows(long row, int rows)
    {
        if (!Sse.IsSupported) return;
        long bytes = (long)p.Length * sizeof(T);
        for (int l = 0; l < rows; l++)
            for (long off = 0; off < bytes; off += 64)
            {
                long at = (row + (long)l * p.Length) * sizeof(T) + off;
                Sse.Prefetch1((byte*)U + at);
                Sse.Prefetch1((byte*)Delta + at);
                Sse.Prefetch1((byte*)G + at);
                if (p.HasZ) Sse.Prefetch1((byte*)Z + at);
            }
    }

    /// <summary>The backward reads a unit's saved chunk-end states, written by the forward long before (out of cache), from
    /// the last chunk back: request the states of <paramref name="units"/> adjacent units from <paramref name="unit"/> into L2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void PrefetchSaved(int unit, int units)
    {
        if (!Sse.IsSupported || Saved == null) return;
        long perUnit = (long)(p.Chunks - 1) * p.States * sizeof(Vector256<T>);
        byte* at = (byte*)Saved + unit * perUnit;
        for (long off = 0; off < units * perUnit; off += 64) Sse.Prefetch1(at + off);
    }

    /// <summary>
    /// Adds the lane sums of a chunk's per-lane dB and dC terms (element (step j, state s) at j·<paramref name="stepStride"/>
    /// + s·<paramref name="stateStride"/> vectors from <paramref name="sb"/>, <paramref name="sc"/>) into rows of dB and dC
    /// (state s at <paramref name="dbAt"/> + s·len, the chunk's first step at offset 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddLaneSums(Vector256<T>* sb, Vector256<T>* sc, int stateStride, int stepStride, int n, int tc, T* dbAt, T* dcAt, int len)
    {
        for (int s = 0; s < n; s++)
        {
            T* dbRow = dbAt + (long)s * len;
            T* dcRow = dcAt + (long)s * len;
            var sbS = sb + s * stateStride;
            var scS = sc + s * stateStride;
            int j = 0;
            if (Transposes.Supported)
                for (; j + W <= tc; j += W)
                {
                    Vector256.Store(Vector256.Load(dbRow + j) + Transposes.LaneSums(sbS + j * stepStride, stepStride), dbRow + j);
                    Vector256.Store(Vector256.Load(dcRow + j) + Transposes.LaneSums(scS + j * stepStride, stepStride), dcRow + j);
                }
            for (; j < tc; j++)
            {
                dbRow[j] = Add(dbRow[j], Vector256.Sum(sbS[j * stepStride]));
                dcRow[j] = Add(dcRow[j], Vector256.Sum(scS[j * stepStride]));
            }
        }
    }

    /// <summary>Scratch vectors one thread needs for <see cref="BackwardPair"/>.</summary>
    public int PairScratchVectors => 12 * p.States + 6 * p.Chunk * p.States + 20 * p.Chunk;

    /// <summary>
    /// Backward of two full blocks of one batch that share their B and C groups (the pairs of <see cref="WorkItems"/>),
    /// side by side in 512-bit vectors as in <see cref="ForwardPair"/>: B_t and C_t are single broadcasts serving 16
    /// channels, and the two blocks' per-lane dB, dC terms are added before the lane sums (both feed the same group
    /// rows). Same math as <see cref="BackwardUnit"/> on each block; the recomputation matches <see cref="ForwardPair"/>.
    /// The per-state loops walk interleaved buffers with one pointer each (what a state's step reads and writes lies
    /// side by side), so the loop keeps its few addresses in registers instead of recomputing one per array.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void BackwardPair(int unitA, int unitB, Vector256<T>* scratch, T* dB, T* dC)
    {
        int n = p.States, len = p.Length, chunk = p.Chunk;
        var (b, kA, d0A, _, rowA, bOff, cOff) = Locate(unitA);
        var (_, kB, d0B, _, rowB, _, _) = Locate(unitB);
        // Per state s: carry (dh_{t+1}·exp(dt_{t+1}A)), dA accumulator, A, A·log2 e (Exp2F) of the 16 channels.
        var st = (Vector512<float>*)scratch;
        // Rows 0..chunk of (h, exp(dt·A)) per state: row j + 1 is step j of the chunk, row 0 holds the chunk's start state.
        var hd = st + 4 * n;
        var tgy = hd + 2 * (chunk + 1) * n;                 // (chunk): gy of the 16 channels
        // (chunk, N) pairs: both blocks' dh·dt·u and gy·h, summed over lanes into dB and dC.
        var sbc = (Vector256<T>*)(tgy + chunk);
        // Per block (A, then B): u, dt, softplus', silu(z), g, du, dΔ, dz, silu'(z) tiles of the chunk.
        var tA = sbc + 2 * chunk * n;
        var tB = tA + 9 * chunk;
        for (int s = 0; s < n; s++)
        {
            st[4 * s] = Vector512<float>.Zero;
            st[4 * s + 1] = Vector512<float>.Zero;
            st[4 * s + 2] = Join(aV[kA * n + s], aV[kB * n + s]);
            st[4 * s + 3] = Join(a2V[kA * n + s], a2V[kB * n + s]);
        }
        var bp = (float*)(B + bOff);
        long cDiff = (long)((float*)(C + cOff) - bp);       // C_t's state s lies cDiff floats after B_t's
        var dSkip = Join(dV[kA], dV[kB]);
        Vector256<T> biasA = biasV[kA], biasB = biasV[kB];
        bool hasD = p.HasD, hasZ = p.HasZ, softplus = p.Softplus;
        var dDacc = Vector512<float>.Zero;
        var dBiasAcc = Vector512<float>.Zero;

        PrefetchRows(rowA, W);
        PrefetchRows(rowB, W);
        PrefetchSaved(unitA, 2);                             // unitB = unitA + 1 (WorkItems)
        for (int c = p.Chunks - 1; c >= 0; c--)
        {
            int t0 = c * chunk;
            int tc = Math.Min(chunk, len - t0);
            if (tc <= 0) continue;
            if (c == 0) for (int s = 0; s < n; s++) hd[2 * s] = Vector512<float>.Zero;
            else
            {
                var srcA = (Vector256<T>*)Saved + ((long)unitA * (p.Chunks - 1) + c - 1) * n;
                var srcB = (Vector256<T>*)Saved + ((long)unitB * (p.Chunks - 1) + c - 1) * n;
                for (int s = 0; s < n; s++) hd[2 * s] = Join(srcA[s], srcB[s]);
            }
            for (int half = 0; half < 2; half++)
            {
                var t = half == 0 ? tA : tB;
                long row = half == 0 ? rowA : rowB;
                LoadTile(U + row, len, t0, tc, W, t);
                LoadTile(Delta + row, len, t0, tc, W, t + chunk);
                LoadTile(G + row, len, t0, tc, W, t + 4 * chunk);
                if (hasZ) LoadTile(Z + row, len, t0, tc, W, t + 3 * chunk);
            }
            PrepareDeltaPair(tA + chunk, tB + chunk, tA + 2 * chunk, tB + 2 * chunk, tc, biasA, biasB, softplus);
            if (hasZ) PrepareGatePair(tA + 3 * chunk, tB + 3 * chunk, tA + 8 * chunk, tB + 8 * chunk, tc);

            // Recompute the forward inside the chunk (as ForwardPair), keeping h_t and exp(dt_t A) for every step.
            for (int j = 0; j < tc; j++)
            {
                var uj = Join(tA[j], tB[j]);
                var dt = Join(tA[chunk + j], tB[chunk + j]);
                var acc = RecomputeStep(dt, dt * uj, st, hd + 2 * (j + 1) * n, bp + t0 + j, cDiff, len, n);
                if (hasD) acc = Vector512.FusedMultiplyAdd(dSkip, uj, acc);           // y before the gate
                Vector256<T> gyA = tA[4 * chunk + j], gyB = tB[4 * chunk + j];
                if (hasZ)
                {
                    tA[7 * chunk + j] = gyA * acc.GetLower().As<float, T>() * tA[8 * chunk + j];     // g·y·silu'(z)
                    tB[7 * chunk + j] = gyB * acc.GetUpper().As<float, T>() * tB[8 * chunk + j];
                    gyA *= tA[3 * chunk + j];                                                        // g·silu(z)
                    gyB *= tB[3 * chunk + j];
                }
                var gy = Join(gyA, gyB);
                tgy[j] = gy;
                dDacc = Vector512.FusedMultiplyAdd(gy, uj, dDacc);
            }

            // Reverse scan over the chunk.
            for (int j = tc - 1; j >= 0; j--)
            {
                var uj = Join(tA[j], tB[j]);
                var dt = Join(tA[chunk + j], tB[chunk + j]);
                var (sumB, ddt) = ReverseStep(tgy[j], uj, dt, st, hd + 2 * (j + 1) * n, sbc + 2 * j * n, bp + t0 + j, cDiff, len, n);
                var du = hasD ? Vector512.FusedMultiplyAdd(dSkip, tgy[j], dt * sumB) : dt * sumB;
                var dd = softplus ? ddt * Join(tA[2 * chunk + j], tB[2 * chunk + j]) : ddt;
                Split(du, tA + 5 * chunk, tB + 5 * chunk, j);
                Split(dd, tA + 6 * chunk, tB + 6 * chunk, j);
                dBiasAcc += dd;
            }
            StoreTile(tA + 5 * chunk, tc, W, DU + rowA, len, t0);
            StoreTile(tB + 5 * chunk, tc, W, DU + rowB, len, t0);
            StoreTile(tA + 6 * chunk, tc, W, DDelta + rowA, len, t0);
            StoreTile(tB + 6 * chunk, tc, W, DDelta + rowB, len, t0);
            if (hasZ)
            {
                StoreTile(tA + 7 * chunk, tc, W, DZ + rowA, len, t0);
                StoreTile(tB + 7 * chunk, tc, W, DZ + rowB, len, t0);
            }
            AddLaneSums(sbc, sbc + 1, 2, 2 * n, n, tc, dB + bOff + t0, dC + cOff + t0, len);
        }

        for (int l = 0; l < W; l++)
        {
            long dA = (long)b * p.Channels + d0A + l, dB2 = (long)b * p.Channels + d0B + l;
            for (int s = 0; s < n; s++)
            {
                DAPart[dA * n + s] = ((T*)(st + 4 * s + 1))[l];
                DAPart[dB2 * n + s] = ((T*)(st + 4 * s + 1))[W + l];
            }
            DDPart[dA] = ((T*)&dDacc)[l];
            DDPart[dB2] = ((T*)&dDacc)[W + l];
            DBiasPart[dA] = ((T*)&dBiasAcc)[l];
            DBiasPart[dB2] = ((T*)&dBiasAcc)[W + l];
        }
    }

    /// <summary>
    /// <see cref="ForwardPair"/>'s step for all N states, in place: h = exp(dt·A)·h + dt·u·B with <paramref name="h"/>
    /// holding (h, A·log2 e) per state, B_t's state s at <paramref name="bc"/>[s·len] and C_t's <paramref name="cDiff"/>
    /// floats after it; returns Σ_n C_n·h_n.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> ForwardStep(Vector512<float> dt, Vector512<float> dtu, Vector512<float>* h, float* bc, long cDiff, int len, int n)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int s = 0;
        for (; s + 2 <= n; s += 2, h += 4, bc += 2L * len)      // two accumulators: the Σ_n chain is not the bottleneck
        {
            var h0 = Vector512.FusedMultiplyAdd(Exp2F(dt * h[1]), h[0], dtu * Vector512.Create(bc[0]));
            var h1 = Vector512.FusedMultiplyAdd(Exp2F(dt * h[3]), h[2], dtu * Vector512.Create(bc[len]));
            h[0] = h0;
            h[2] = h1;
            acc0 = Vector512.FusedMultiplyAdd(h0, Vector512.Create(bc[cDiff]), acc0);
            acc1 = Vector512.FusedMultiplyAdd(h1, Vector512.Create(bc[cDiff + len]), acc1);
        }
        if (s < n)
        {
            var h0 = Vector512.FusedMultiplyAdd(Exp2F(dt * h[1]), h[0], dtu * Vector512.Create(bc[0]));
            h[0] = h0;
            acc0 = Vector512.FusedMultiplyAdd(h0, Vector512.Create(bc[cDiff]), acc0);
        }
        return acc0 + acc1;
    }

    /// <summary>
    /// <see cref="BackwardPair"/>'s recomputation of one step for all N states: h = exp(dt·A)·h_prev + dt·u·B (the
    /// state layout of BackwardPair: <paramref name="st"/> [.., .., A, A·log2 e] per state, <paramref name="row"/> this
    /// step's (h, exp(dt·A)) pairs with the previous step's 2N vectors before it); returns Σ_n C_n·h_n.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> RecomputeStep(Vector512<float> dt, Vector512<float> dtu, Vector512<float>* st, Vector512<float>* row,
        float* bc, long cDiff, int len, int n)
    {
        long back = -2L * n;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int s = 0;
        for (; s + 2 <= n; s += 2, st += 8, row += 4, bc += 2L * len)   // two accumulators: the Σ_n chain is not the bottleneck
        {
            var da0 = Exp2F(dt * st[3]);
            var da1 = Exp2F(dt * st[7]);
            var v0 = Vector512.FusedMultiplyAdd(da0, row[back], dtu * Vector512.Create(bc[0]));
            var v1 = Vector512.FusedMultiplyAdd(da1, row[back + 2], dtu * Vector512.Create(bc[len]));
            row[0] = v0; row[1] = da0;
            row[2] = v1; row[3] = da1;
            acc0 = Vector512.FusedMultiplyAdd(v0, Vector512.Create(bc[cDiff]), acc0);
            acc1 = Vector512.FusedMultiplyAdd(v1, Vector512.Create(bc[cDiff + len]), acc1);
        }
        if (s < n)
        {
            var da0 = Exp2F(dt * st[3]);
            var v0 = Vector512.FusedMultiplyAdd(da0, row[back], dtu * Vector512.Create(bc[0]));
            row[0] = v0; row[1] = da0;
            acc0 = Vector512.FusedMultiplyAdd(v0, Vector512.Create(bc[cDiff]), acc0);
        }
        return acc0 + acc1;
    }

    /// <summary>
    /// <see cref="BackwardPair"/>'s reverse step for all N states, the terms of <see cref="BackwardUnit"/>'s loop:
    /// dh = C·gy + carry; carry ← exp(dt·A)·dh; dA += dh·dt·exp(dt·A)·h_prev; the per-lane dB, dC terms into
    /// <paramref name="sbc"/>. Returns (Σ_n dh·B, Σ_n dh·(B·u + A·exp(dt·A)·h_prev)), the sums du and dΔ need.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float> sumB, Vector512<float> ddt) ReverseStep(Vector512<float> gy, Vector512<float> uj, Vector512<float> dt,
        Vector512<float>* st, Vector512<float>* row, Vector256<T>* sbc, float* bc, long cDiff, int len, int n)
    {
        long back = -2L * n;
        var sumB = Vector512<float>.Zero;
        var ddt = Vector512<float>.Zero;
        var dtu = dt * uj;
        for (int s = 0; s < n; s++, st += 4, row += 2, sbc += 2, bc += len)
        {
            var bv = Vector512.Create(bc[0]);
            var dh = Vector512.FusedMultiplyAdd(Vector512.Create(bc[cDiff]), gy, st[0]);
            var da = row[1];
            var hA = da * row[back];                                         // exp(dt A) h_{t-1}
            sumB = Vector512.FusedMultiplyAdd(dh, bv, sumB);
            ddt = Vector512.FusedMultiplyAdd(dh, Vector512.FusedMultiplyAdd(bv, uj, st[2] * hA), ddt);
            st[1] = Vector512.FusedMultiplyAdd(dh * dt, hA, st[1]);
            var tb = dh * dtu;
            var tcv = gy * row[0];
            sbc[0] = (tb.GetLower() + tb.GetUpper()).As<float, T>();
            sbc[1] = (tcv.GetLower() + tcv.GetUpper()).As<float, T>();
            st[0] = da * dh;
        }
        return (sumB, ddt);
    }

    /// <summary>dt = softplus(Δ + bias) (or Δ + bias) over a tile of <paramref name="tc"/> step vectors in place, two
    /// vectors at a time (<see cref="VectorPair256"/>). Float only (<see cref="pairMath"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrepareDelta(Vector256<T>* tile, int tc, Vector256<T> bias, bool softplus)
    {
        var d = (Vector256<float>*)tile;
        var b = VectorPair256.Splat(bias.As<T, float>());
        // An odd tail runs as a pair with itself (both halves land in its slot with the same value).
        for (int j = 0; j < tc; j += 2)
        {
            int j1 = Math.Min(j + 1, tc - 1);
            var x = new VectorPair256(d[j], d[j1]) + b;
            if (softplus) x = Softplus(x);
            d[j] = x.Lo;
            d[j1] = x.Hi;
        }
    }

    /// <summary>The 16 channels of blocks A and B (lanes of <paramref name="a"/>, then <paramref name="b"/>) in one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Join(Vector256<T> a, Vector256<T> b) =>
        Avx512F.InsertVector256(a.As<T, float>().ToVector512Unsafe(), b.As<T, float>(), 1);

    /// <summary>The inverse of <see cref="Join"/>: the halves back into slot j of two block tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Split(Vector512<float> v, Vector256<T>* a, Vector256<T>* b, int j)
    {
        a[j] = v.GetLower().As<float, T>();
        b[j] = v.GetUpper().As<float, T>();
    }

    /// <summary>dt = softplus(Δ + bias) (or Δ + bias) over the tiles of two paired blocks in place, two steps of 16
    /// channels at a time (<see cref="VectorPair"/>); softplus' (σ(Δ + bias)) into <paramref name="gradA"/>,
    /// <paramref name="gradB"/> unless null. Float on AVX-512 only (<see cref="PairsBlocks"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void PrepareDeltaPair(Vector256<T>* a, Vector256<T>* b, Vector256<T>* gradA, Vector256<T>* gradB, int tc,
        Vector256<T> biasA, Vector256<T> biasB, bool softplus)
    {
        var bias = VectorPair.Splat(Join(biasA, biasB));
        for (int j = 0; j < tc; j += 2)                    // odd tail: as in PrepareDelta
        {
            int j1 = Math.Min(j + 1, tc - 1);
            var x = new VectorPair(Join(a[j], b[j]), Join(a[j1], b[j1])) + bias;
            if (softplus && gradA != null)
            {
                x = SoftplusWithGrad(x, out var grad);
                Split(grad.Lo, gradA, gradB, j);
                Split(grad.Hi, gradA, gradB, j1);
            }
            else if (softplus) x = Softplus(x);
            Split(x.Lo, a, b, j);
            Split(x.Hi, a, b, j1);
        }
    }

    /// <summary>silu(z) = z·σ(z) over the z tiles of two paired blocks in place, two steps of 16 channels at a time;
    /// silu'(z) = σ(z)(1 + z(1 − σ(z))) into <paramref name="gradA"/>, <paramref name="gradB"/> unless null.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void PrepareGatePair(Vector256<T>* a, Vector256<T>* b, Vector256<T>* gradA, Vector256<T>* gradB, int tc)
    {
        var one = VectorPair.One;
        for (int j = 0; j < tc; j += 2)
        {
            int j1 = Math.Min(j + 1, tc - 1);
            var z = new VectorPair(Join(a[j], b[j]), Join(a[j1], b[j1]));
            var sig = Sigmoid(z);
            if (gradA != null)
            {
                var grad = sig * VectorPair.Fma(z, one - sig, one);
                Split(grad.Lo, gradA, gradB, j);
                Split(grad.Hi, gradA, gradB, j1);
            }
            var silu = z * sig;
            Split(silu.Lo, a, b, j);
            Split(silu.Hi, a, b, j1);
        }
    }

    /// <summary>The gate z·σ(z) over a tile of <paramref name="tc"/> step vectors in place, two at a time. Float only
    /// (<see cref="pairMath"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrepareGate(Vector256<T>* tile, int tc)
    {
        var z = (Vector256<float>*)tile;
        for (int j = 0; j < tc; j += 2)                    // odd tail: as in PrepareDelta
        {
            int j1 = Math.Min(j + 1, tc - 1);
            var x = Silu(new VectorPair256(z[j], z[j1]));
            z[j] = x.Lo;
            z[j1] = x.Hi;
        }
    }

    /// <summary>Where unit (batch b, block k) lives: channels [d0, d0 + cw), its u/Δ/z/y row offset and B, C offsets.</summary>
    (int b, int k, int d0, int cw, long row, long bOff, long cOff) Locate(int unit)
    {
        int b = unit / p.Blocks, k = unit % p.Blocks;
        int d0 = p.BlockStart[k];
        long nl = (long)p.States * p.Length;
        return (b, k, d0, p.BlockCount[k], ((long)b * p.Channels + d0) * p.Length,
            ((long)b * p.GroupsB + p.GroupOfB(k)) * nl, ((long)b * p.GroupsC + p.GroupOfC(k)) * nl);
    }

    /// <summary>
    /// <see cref="ForwardUnit"/>'s step for all N states, in place (docs/selective-scan.md §2 steps 2–4 without D):
    /// h = exp(dt·A)·h + dt·u·B with <paramref name="h"/> holding (h, <see cref="ExpCoefficient"/>) per state, B_t's
    /// state s at <paramref name="bc"/>[s·len] and C_t's <paramref name="cDiff"/> elements after it; returns Σ_n C_n·h_n.
    /// Two states per iteration on two accumulators: with four, AVX2's 16 registers spill.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> ForwardStep(Vector256<T> dt, Vector256<T> dtu, Vector256<T>* h, T* bc, long cDiff, int len, int n)
    {
        Vector256<T> acc0 = Vector256<T>.Zero, acc1 = Vector256<T>.Zero;
        int s = 0;
        for (; s + 2 <= n; s += 2, h += 4, bc += 2L * len)
        {
            var h0 = Fma(ExpOf(dt, h[1]), h[0], dtu * Vector256.Create(bc[0]));
            var h1 = Fma(ExpOf(dt, h[3]), h[2], dtu * Vector256.Create(bc[len]));
            h[0] = h0;
            h[2] = h1;
            acc0 = Fma(h0, Vector256.Create(bc[cDiff]), acc0);
            acc1 = Fma(h1, Vector256.Create(bc[cDiff + len]), acc1);
        }
        if (s < n)
        {
            var h0 = Fma(ExpOf(dt, h[1]), h[0], dtu * Vector256.Create(bc[0]));
            h[0] = h0;
            acc0 = Fma(h0, Vector256.Create(bc[cDiff]), acc0);
        }
        return acc0 + acc1;
    }

    /// <summary>What <see cref="ExpOf"/> multiplies dt by for state entry i (block·N + s): A·log2 e for float, A for double.</summary>
    Vector256<T> ExpCoefficient(int i) => typeof(T) == typeof(float) ? a2V[i] : aV[i];

    /// <summary>exp(dt·A) from <see cref="ExpCoefficient"/>: 2^(dt·A·log2 e) by <see cref="Exp2F(Vector256{float})"/>
    /// for float (half the multiply-pipe work of <see cref="Exp{T}"/>), e^(dt·A) for double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> ExpOf(Vector256<T> dt, Vector256<T> coefficient) =>
        typeof(T) == typeof(float) ? Exp2F((dt * coefficient).As<T, float>()).As<float, T>() : Exp(dt * coefficient);

    /// <summary>A·log2 e for the float lanes (<see cref="ExpOf"/>); double lanes keep A.</summary>
    static T Log2E(T v) => typeof(T) == typeof(float) ? Const<T>(Unsafe.As<T, float>(ref v) * 1.4426950408889634) : v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Add(T x, T y) => typeof(T) == typeof(float) ? AddF(x, y) : AddD(x, y);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T AddF(T x, T y)
    {
        float r = Unsafe.As<T, float>(ref x) + Unsafe.As<T, float>(ref y);
        return Unsafe.As<float, T>(ref r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T AddD(T x, T y)
    {
        double r = Unsafe.As<T, double>(ref x) + Unsafe.As<T, double>(ref y);
        return Unsafe.As<double, T>(ref r);
    }

    /// <summary>
    /// Copies steps [t0, t0 + tc) of <paramref name="cw"/> channel rows (row stride <paramref name="len"/>) into
    /// tc vectors with one channel per lane; lanes ≥ cw are zero. Full blocks go W steps at a time through an
    /// in-register W×W transpose; scalar stores into a vector that is then read whole would stall store forwarding.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadTile(T* src, int len, int t0, int tc, int cw, Vector256<T>* dst)
    {
        int j0 = 0;
        if (cw == W && Transposes.Supported)
            for (; j0 + W <= tc; j0 += W)
                Transposes.Transpose(src + t0 + j0, len, dst + j0, 1);
        if (j0 == tc) return;
        for (int j = j0; j < tc; j++)
        {
            var v = Vector256<T>.Zero;
            for (int l = 0; l < cw; l++) v = v.WithElement(l, src[(long)l * len + t0 + j]);
            dst[j] = v;
        }
    }

    /// <summary>The inverse of <see cref="LoadTile"/>: lanes &lt; cw of tc vectors back to channel rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreTile(Vector256<T>* src, int tc, int cw, T* dst, int len, int t0, bool stream = false)
    {
        int j0 = 0;
        if (cw == W && Transposes.Supported)
            for (; j0 + W <= tc; j0 += W)
                Transposes.TransposeBack(src + j0, dst + t0 + j0, len, stream);
        T* s = (T*)src;
        for (int l = 0; l < cw; l++)
        {
            T* d = dst + (long)l * len + t0;
            for (int j = j0; j < tc; j++) d[j] = s[j * W + l];
        }
    }
}
