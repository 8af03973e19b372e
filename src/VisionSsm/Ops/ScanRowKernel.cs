using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;
using static VisionSsm.Ops.FastMath;

namespace VisionSsm.Ops;

/// <summary>
/// The N = 1 selective scan (VMamba's d_state = 1) in float32, on mamba_ssm's own (batch, D, L) rows with 16 time
/// steps per AVX-512 vector. Each work item streams its channel rows of u, Δ (, z) once and writes y once, with no
/// transposes into channel lanes (B, C are one short row per group). Within a vector, h_t = a_t·h_{t−1} + b_t
/// (a = exp(dt·A), b = dt·B_t·u_t, docs/selective-scan.md §2) is an in-register inclusive scan of the affine maps (a, b)
/// (Hillis–Steele, 4 levels, identity (1, 0) shifted in), carried across vectors through the last lane. The
/// elementwise math runs on 32-step blocks (<see cref="VectorPair"/>) to expose more independent work to the
/// out-of-order core. The backward needs no saved states: it recomputes a row's forward into per-thread row buffers
/// (dt, σ(Δ+bias), a, h, gy: 5·L floats) and runs the reverse scan dh_t = C_t·gy_t + a_{t+1}·dh_{t+1}
/// (docs/selective-scan.md §3) as the mirrored suffix scan. Its slow twins are <see cref="ScanKernel{T}"/> (the lane kernel,
/// used for every other case) and <see cref="SelectiveScanReference"/>.
/// Pointers are raw: the caller keeps every tensor alive for the duration of the call.
/// </summary>
internal sealed unsafe class ScanRowKernel
{
    const int W = 16;

    /// <summary>Rows shorter than this go to the lane kernel: a row is processed in 32-step blocks, so short rows are
    /// mostly padding. Measured (`train-profile --row-vs-lane`, 2 threads): the row kernel wins from L 196 up (1.3–2×
    /// at L 784–3136), the lane kernel below L 49 (2–3× at L 4–16, vmamba_nano's late stages).</summary>
    public const long MinLength = 128;

    /// <summary>The kernel can run this call: AVX-512, N = 1, float32, and not switched off
    /// (<see cref="Runtime.KernelOptions.ScanRowKernel"/> false).</summary>
    public static bool Applies(ScanArguments a) =>
        Runtime.KernelOptions.Current.ScanRowKernel != false && Avx512F.IsSupported && a.States == 1 && a.U.dtype == ScalarType.Float32;

    /// <summary>The dispatch rule: the row kernel where it applies and the rows are long enough to pay (every length with
    /// <see cref="Runtime.KernelOptions.ScanRowKernel"/> true).</summary>
    public static bool Preferred(ScanArguments a) => Applies(a) && (Runtime.KernelOptions.Current.ScanRowKernel == true || a.Length >= MinLength);

    readonly int channels, len, groupsB, groupsC;
    readonly bool hasD, hasZ, softplus;
    readonly float* aCoef, dSkip, bias;
    public float* U, Delta, Z, B, C;
    public float* Y, Last;
    /// <summary>Write y with non-temporal stores (rows that start 64-byte aligned).</summary>
    public bool StreamY;
    public float* G, DU, DDelta, DZ, DAPart, DDPart, DBiasPart;

    public ScanRowKernel(ScanArguments a)
    {
        Rows = checked((int)(a.Batch * a.Channels));
        channels = (int)a.Channels;
        len = checked((int)a.Length);
        groupsB = (int)a.GroupsB;
        groupsC = (int)a.GroupsC;
        hasD = a.D is not null;
        hasZ = a.Z is not null;
        softplus = a.DeltaSoftplus;
        aCoef = SelectiveScanCpu.Ptr<float>(a.A);
        dSkip = hasD ? SelectiveScanCpu.Ptr<float>(a.D!) : null;
        bias = a.DeltaBias is null ? null : SelectiveScanCpu.Ptr<float>(a.DeltaBias);
        U = SelectiveScanCpu.Ptr<float>(a.U);
        Delta = SelectiveScanCpu.Ptr<float>(a.Delta);
        Z = hasZ ? SelectiveScanCpu.Ptr<float>(a.Z!) : null;
        B = SelectiveScanCpu.Ptr<float>(a.B);
        C = SelectiveScanCpu.Ptr<float>(a.C);
        // About 8 row ranges per thread on 2 threads: contiguous streams per work item, some load balance.
        RowsPerUnit = Math.Max(1, Rows / 16);
    }

    public int Rows { get; }
    public int RowsPerUnit { get; }
    public int Units => (Rows + RowsPerUnit - 1) / RowsPerUnit;
    int Padded => (len + 2 * W - 1) / (2 * W) * 2 * W;

    /// <summary>Bytes of per-thread scratch for <see cref="BackwardUnit"/>: five row buffers.</summary>
    public long ScratchBytes => 5L * Padded * sizeof(float);


    (int d, long off, long bOff, long cOff) Locate(int r)
    {
        int b = r / channels, d = r % channels;
        return (d, (long)r * len, ((long)b * groupsB + d / (channels / groupsB)) * len,
            ((long)b * groupsC + d / (channels / groupsC)) * len);
    }

    // NoInlining: a tier-1 caller that inlined this would stop inlining the math helpers below once its inlining
    // budget runs out and call their tier-0 versions (docs/architecture.md §6).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void ForwardUnit(int unit)
    {
        int r1 = Math.Min(Rows, (unit + 1) * RowsPerUnit);
        for (int r = unit * RowsPerUnit; r < r1; r++) ForwardRow(r);
        if (StreamY) Sse.StoreFence();
    }

    /// <summary>Forward of one channel row (docs/selective-scan.md §2): dt = softplus(Δ + bias), h, y = C·h + D·u, ·silu(z);
    /// 32 steps (a <see cref="VectorPair"/>) per block. The tail block runs on zero-padded copies (the scan is causal,
    /// so padding after the valid steps never reaches them), keeping calls out of the main loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void ForwardRow(int r)
    {
        var (d, off, bOff, cOff) = Locate(r);
        var k = Coefficients(d);
        float* u = U + off, dl = Delta + off, y = Y + off, z = hasZ ? Z + off : null, bp = B + bOff, cp = C + cOff;
        bool stream = StreamY && ((nint)y & 63) == 0;
        var carry = Vector512<float>.Zero;
        int t = 0;
        for (; t + 2 * W <= len; t += 2 * W)
            ForwardBlock(u + t, dl + t, bp + t, cp + t, hasZ ? z + t : null, y + t, stream, ref carry, k);
        if (t < len) ForwardTail(u + t, dl + t, bp + t, cp + t, hasZ ? z + t : null, y + t, len - t, ref carry, k);
        Last[r] = carry.ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    void ForwardTail(float* u, float* dl, float* bp, float* cp, float* z, float* y, int n, ref Vector512<float> carry, in Coef k)
    {
        var buf = stackalloc float[6 * 2 * W];
        var h = ForwardBlock(Pad(u, n, buf), Pad(dl, n, buf + 2 * W), Pad(bp, n, buf + 4 * W), Pad(cp, n, buf + 6 * W),
            hasZ ? Pad(z, n, buf + 8 * W) : null, buf + 10 * W, false, ref carry, k);
        CopyFirst(buf + 10 * W, y, n);
        carry = Vector512.Create(n > W ? h.Hi.GetElement(n - W - 1) : h.Lo.GetElement(n - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    VectorPair ForwardBlock(float* u, float* dl, float* bp, float* cp, float* z, float* y, bool stream,
        ref Vector512<float> carry, in Coef k)
    {
        var uv = Load(u);
        var x = Load(dl) + k.Bias;
        var dt = softplus ? Softplus(x) : x;
        var h = Scan(ref carry, ExpF(dt * k.A), dt * uv * Load(bp));
        var ct = Load(cp);
        var yv = hasD ? VectorPair.Fma(ct, h, k.D * uv) : ct * h;
        if (hasZ)
        {
            var zv = Load(z);
            yv *= zv * Sigmoid(zv);
        }
        if (stream)
        {
            Vector512.StoreAlignedNonTemporal(yv.Lo, y);
            Vector512.StoreAlignedNonTemporal(yv.Hi, y + W);
        }
        else Store(yv, y);
        return h;
    }

    /// <summary>A, D skip and Δ bias of one channel, broadcast.</summary>
    readonly struct Coef(VectorPair a, VectorPair d, VectorPair bias)
    {
        public readonly VectorPair A = a, D = d, Bias = bias;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Coef Coefficients(int d) =>
        new(VectorPair.Splat(aCoef[d]), VectorPair.Splat(hasD ? dSkip[d] : 0f), VectorPair.Splat(bias != null ? bias[d] : 0f));

    /// <summary>h for 32 steps from a = exp(dt·A), b = dt·B·u and the state before them (<paramref name="carry"/>,
    /// broadcast); leaves the last step's state in <paramref name="carry"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static VectorPair Scan(ref Vector512<float> carry, VectorPair a, VectorPair b)
    {
        Vector512<float> a1 = a.Lo, b1 = b.Lo, a2 = a.Hi, b2 = b.Hi;
        InclusiveScan(ref a1, ref b1);
        InclusiveScan(ref a2, ref b2);
        var h1 = Vector512.FusedMultiplyAdd(a1, carry, b1);
        var h2 = Vector512.FusedMultiplyAdd(a2, LastLane(h1), b2);
        carry = LastLane(h2);
        return new VectorPair(h1, h2);
    }

    /// <summary>
    /// Backward of a range of rows, docs/selective-scan.md §3. <paramref name="scratch"/>: five row buffers;
    /// dB, dC (this thread's accumulators or the results) are summed into.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public void BackwardUnit(int unit, float* scratch, float* dB, float* dC)
    {
        int r1 = Math.Min(Rows, (unit + 1) * RowsPerUnit);
        for (int r = unit * RowsPerUnit; r < r1; r++) BackwardRow(r, scratch, dB, dC);
    }

    /// <summary>Row buffers of the backward (padded to whole 32-step blocks): dt, σ(Δ + bias), a = exp(dt·A), h, gy.</summary>
    readonly struct Saved(float* scratch, int padded)
    {
        public readonly float* Dt = scratch, Sig = scratch + padded, A = scratch + 2 * padded, H = scratch + 3 * padded,
            Gy = scratch + 4 * padded;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void BackwardRow(int r, float* scratch, float* dB, float* dC)
    {
        var (d, off, bOff, cOff) = Locate(r);
        var sv = new Saved(scratch, Padded);
        var k = Coefficients(d);
        float* u = U + off, dl = Delta + off, g = G + off, z = hasZ ? Z + off : null, bp = B + bOff, cp = C + cOff;
        float* du = DU + off, ddl = DDelta + off, dz = hasZ ? DZ + off : null, dbp = dB + bOff, dcp = dC + cOff;

        // Pass 1: the forward again, keeping dt, σ(Δ + bias), a, h and gy = g·silu(z) (or g); dz.
        var carry = Vector512<float>.Zero;
        var dDacc = VectorPair.Zero;
        int t = 0;
        for (; t + 2 * W <= len; t += 2 * W)
            RecomputeBlock(t, u + t, dl + t, bp + t, cp + t, g + t, hasZ ? z + t : null, hasZ ? dz + t : null, sv, ref carry, ref dDacc, k);
        if (t < len)
            RecomputeTail(t, u + t, dl + t, bp + t, cp + t, g + t, hasZ ? z + t : null, hasZ ? dz + t : null, len - t, sv, ref carry, ref dDacc, k);

        // Pass 2: reverse scan dh_t = C_t·gy_t + a_{t+1}·dh_{t+1}, last block first. Blocks after the last step are
        // skipped (dh = 0 there); the partial last block runs on zero-padded copies (gy = 0 there, so dh = 0).
        var rs = new ReverseState();
        t = (len - 1) / W * W;
        if (t + W > len) ReverseTail(t, u + t, bp + t, cp + t, du + t, ddl + t, dbp + t, dcp + t, len - t, sv, ref rs, k);
        else t += W;
        for (t -= W; t >= 0; t -= W)
            ReverseBlock(t, u + t, bp + t, cp + t, du + t, ddl + t, dbp + t, dcp + t, sv, ref rs, k);
        DAPart[r] = Vector512.Sum(rs.DA);
        DDPart[r] = Vector512.Sum(dDacc.Lo + dDacc.Hi);
        DBiasPart[r] = Vector512.Sum(rs.DBias);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    void RecomputeTail(int t, float* u, float* dl, float* bp, float* cp, float* g, float* z, float* dz, int n, in Saved sv,
        ref Vector512<float> carry, ref VectorPair dDacc, in Coef k)
    {
        var buf = stackalloc float[7 * 2 * W];
        RecomputeBlock(t, Pad(u, n, buf), Pad(dl, n, buf + 2 * W), Pad(bp, n, buf + 4 * W), Pad(cp, n, buf + 6 * W),
            Pad(g, n, buf + 8 * W), hasZ ? Pad(z, n, buf + 10 * W) : null, hasZ ? buf + 12 * W : null, sv, ref carry, ref dDacc, k);
        if (hasZ) CopyFirst(buf + 12 * W, dz, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void RecomputeBlock(int t, float* u, float* dl, float* bp, float* cp, float* g, float* z, float* dz, in Saved sv,
        ref Vector512<float> carry, ref VectorPair dDacc, in Coef k)
    {
        var one = VectorPair.One;
        var x = Load(dl) + k.Bias;
        var sig = one;
        var dt = softplus ? SoftplusWithGrad(x, out sig) : x;
        var uv = Load(u);
        var a = ExpF(dt * k.A);
        var h = Scan(ref carry, a, dt * uv * Load(bp));
        var gy = Load(g);
        if (hasZ)
        {
            var gv = gy;
            var zv = Load(z);
            var sz = Sigmoid(zv);
            var ct = Load(cp);
            var ypre = hasD ? VectorPair.Fma(ct, h, k.D * uv) : ct * h;
            gy = gv * zv * sz;                                                               // g·silu(z)
            Store(gv * ypre * sz * VectorPair.Fma(zv, one - sz, one), dz);                   // g·y·σ(z)(1 + z(1 − σ(z)))
        }
        Store(dt, sv.Dt + t);
        Store(sig, sv.Sig + t);
        Store(a, sv.A + t);
        Store(h, sv.H + t);
        Store(gy, sv.Gy + t);
        dDacc = VectorPair.Fma(gy, uv, dDacc);
    }

    /// <summary>What the reverse scan carries from a later block: dh and a of its first step, and the dA, dbias sums.</summary>
    struct ReverseState
    {
        public Vector512<float> DhNext, ANext, DA, DBias;
        public ReverseState() => ANext = Vector512<float>.One;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    void ReverseTail(int t, float* u, float* bp, float* cp, float* du, float* ddl, float* dbp, float* dcp, int n,
        in Saved sv, ref ReverseState rs, in Coef k)
    {
        var buf = stackalloc float[7 * W];
        float* odu = buf + 3 * W, odd = buf + 4 * W, odb = Pad(dbp, n, buf + 5 * W, W), odc = Pad(dcp, n, buf + 6 * W, W);
        ReverseBlock(t, Pad(u, n, buf, W), Pad(bp, n, buf + W, W), Pad(cp, n, buf + 2 * W, W), odu, odd, odb, odc, sv, ref rs, k);
        CopyFirst(odu, du, n, W);
        CopyFirst(odd, ddl, n, W);
        CopyFirst(odb, dbp, n, W);
        CopyFirst(odc, dcp, n, W);
    }

    /// <summary>16 steps of the reverse scan and the input gradients (docs/selective-scan.md §3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void ReverseBlock(int t, float* u, float* bp, float* cp, float* du, float* ddl, float* dbp, float* dcp,
        in Saved sv, ref ReverseState rs, in Coef k)
    {
        var dt = Vector512.Load(sv.Dt + t);
        var a = Vector512.Load(sv.A + t);
        var h = Vector512.Load(sv.H + t);
        var gy = Vector512.Load(sv.Gy + t);
        var bt = Vector512.Load(bp);
        var uv = Vector512.Load(u);
        var c = Vector512.Load(cp) * gy;
        var a1 = AlignRight(rs.ANext, a, 1);                    // a_{t+1}; the last lane takes the next block's first
        SuffixScan(ref a1, ref c);
        var dh = Vector512.FusedMultiplyAdd(a1, rs.DhNext, c);
        rs.DhNext = Vector512.Create(dh.ToScalar());
        rs.ANext = a;
        var hPrev = AlignRight(h, t > 0 ? Vector512.Load(sv.H + t - W) : Vector512<float>.Zero, 15);   // h_{t−1}
        var hA = a * hPrev;                                     // exp(dt·A)·h_{t−1}
        var dtDh = dt * dh;
        var duv = dtDh * bt;
        if (hasD) duv = Vector512.FusedMultiplyAdd(k.D.Lo, gy, duv);
        var ddt = dh * Vector512.FusedMultiplyAdd(bt, uv, k.A.Lo * hA);
        rs.DA = Vector512.FusedMultiplyAdd(dtDh, hA, rs.DA);
        var dd = softplus ? ddt * Vector512.Load(sv.Sig + t) : ddt;
        rs.DBias += dd;
        Vector512.Store(duv, du);
        Vector512.Store(dd, ddl);
        Vector512.Store(Vector512.Load(dbp) + dtDh * uv, dbp);
        Vector512.Store(Vector512.Load(dcp) + gy * h, dcp);
    }

    /// <summary>In-vector inclusive scan of the affine maps h ↦ a_i·h + b_i (lane 0 first): afterwards lane i holds
    /// the composition of maps 0..i, i.e. h_i = a_i·h_{−1} + b_i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void InclusiveScan(ref Vector512<float> a, ref Vector512<float> b)
    {
        var zero = Vector512<float>.Zero;
        var one = Vector512<float>.One;
        b = Vector512.FusedMultiplyAdd(a, AlignRight(b, zero, 15), b);
        a *= AlignRight(a, one, 15);
        b = Vector512.FusedMultiplyAdd(a, AlignRight(b, zero, 14), b);
        a *= AlignRight(a, one, 14);
        b = Vector512.FusedMultiplyAdd(a, AlignRight(b, zero, 12), b);
        a *= AlignRight(a, one, 12);
        b = Vector512.FusedMultiplyAdd(a, AlignRight(b, zero, 8), b);
        a *= AlignRight(a, one, 8);
    }

    /// <summary>The mirror image: lane i holds the composition of maps i..15 applied to the value after lane 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SuffixScan(ref Vector512<float> a, ref Vector512<float> c)
    {
        var zero = Vector512<float>.Zero;
        var one = Vector512<float>.One;
        c = Vector512.FusedMultiplyAdd(a, AlignRight(zero, c, 1), c);
        a *= AlignRight(one, a, 1);
        c = Vector512.FusedMultiplyAdd(a, AlignRight(zero, c, 2), c);
        a *= AlignRight(one, a, 2);
        c = Vector512.FusedMultiplyAdd(a, AlignRight(zero, c, 4), c);
        a *= AlignRight(one, a, 4);
        c = Vector512.FusedMultiplyAdd(a, AlignRight(zero, c, 8), c);
        a *= AlignRight(one, a, 8);
    }

    /// <summary>Lanes k..15 of <paramref name="low"/> then lanes 0..k−1 of <paramref name="high"/> (VALIGND): with
    /// k = 16 − s it shifts <paramref name="high"/> up by s lanes filling from <paramref name="low"/>; with k = s it
    /// shifts <paramref name="low"/> down by s lanes filling from <paramref name="high"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> AlignRight(Vector512<float> high, Vector512<float> low, [ConstantExpected] byte k) =>
        Avx512F.AlignRight32(high.AsUInt32(), low.AsUInt32(), k).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> LastLane(Vector512<float> v) => Avx512F.PermuteVar16x32(v, Vector512.Create(15));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static VectorPair Load(float* p) => new(Vector512.Load(p), Vector512.Load(p + W));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(VectorPair v, float* p)
    {
        Vector512.Store(v.Lo, p);
        Vector512.Store(v.Hi, p + W);
    }

    /// <summary>The first <paramref name="n"/> values of <paramref name="src"/> then zeros, in <paramref name="buf"/>
    /// (<paramref name="size"/> floats, W or 2W). Masked loads read only the first <paramref name="n"/> values: masked-off
    /// lanes are neither read nor able to fault.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float* Pad(float* src, int n, float* buf, int size = 2 * W)
    {
        Vector512.Store(Avx512F.MaskLoad(src, FirstLanes(n), Vector512<float>.Zero), buf);
        if (size > W) Vector512.Store(Avx512F.MaskLoad(src + W, FirstLanes(n - W), Vector512<float>.Zero), buf + W);
        return buf;
    }

    /// <summary>The first <paramref name="n"/> values of a block buffer <paramref name="src"/> (<paramref name="size"/>
    /// floats) to <paramref name="dst"/>, writing nothing after them (masked stores).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void CopyFirst(float* src, float* dst, int n, int size = 2 * W)
    {
        Avx512F.MaskStore(dst, FirstLanes(n), Vector512.Load(src));
        if (size > W) Avx512F.MaskStore(dst + W, FirstLanes(n - W), Vector512.Load(src + W));
    }

    /// <summary>All-ones in lanes 0..n−1, zeros after (none for n ≤ 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> FirstLanes(int n) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n)).AsSingle();
}
