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
/// steps per AVX-512 vector. N = 1 is memory-bound: this path moves only the bytes the operator must move (u, Δ
/// (, z) read once, y written once; B, C are one short row per group) and does no transposes into channel lanes.
/// Within a vector, h_t = a_t·h_{t−1} + b_t (a = exp(dt·A), b = dt·B_t·u_t, reference-spec §1.2) is an in-register
/// inclusive scan of the affine maps (a, b) (Hillis–Steele, 4 levels, identity (1, 0) shifted in), carried across
/// vectors through the last lane. The backward needs no saved states: it recomputes a row's forward into per-thread
/// row buffers (dt, σ(Δ+bias), a, h, gy: 5·L floats) and runs the reverse scan dh_t = C_t·gy_t + a_{t+1}·dh_{t+1}
/// (reference-spec §1.3) as the mirrored suffix scan. Its slow twins are <see cref="ScanKernel{T}"/> (the lane
/// kernel, used for every other case) and <see cref="SelectiveScanReference"/>.
/// Pointers are raw: the caller keeps every tensor alive for the duration of the call.
/// </summary>
internal sealed unsafe class ScanRowKernel
{
    const int W = 16;

    /// <summary>Test/bench hook: route N = 1 calls made on this thread to the lane kernel instead.</summary>
    [ThreadStatic] internal static bool Disabled;

    public static bool Applies(ScanArguments a) =>
        !Disabled && Avx512F.IsSupported && a.States == 1 && a.U.dtype == ScalarType.Float32;

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
    int Padded => (len + W - 1) / W * W;

    /// <summary>Bytes of per-thread scratch for <see cref="BackwardUnit"/>: five row buffers.</summary>
    public long ScratchBytes => 5L * Padded * sizeof(float);


    (int d, long off, long bOff, long cOff) Locate(int r)
    {
        int b = r / channels, d = r % channels;
        return (d, (long)r * len, ((long)b * groupsB + d / (channels / groupsB)) * len,
            ((long)b * groupsC + d / (channels / groupsC)) * len);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ForwardUnit(int unit)
    {
        int r1 = Math.Min(Rows, (unit + 1) * RowsPerUnit);
        for (int r = unit * RowsPerUnit; r < r1; r++) ForwardRow(r);
        if (StreamY) Sse.StoreFence();
    }

    /// <summary>Forward of one channel row (reference-spec §1.2): dt = softplus(Δ + bias), h, y = C·h + D·u, ·silu(z).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void ForwardRow(int r)
    {
        var (d, off, bOff, cOff) = Locate(r);
        var av = Vector512.Create(aCoef[d]);
        var dv = Vector512.Create(hasD ? dSkip[d] : 0f);
        var biasv = Vector512.Create(bias != null ? bias[d] : 0f);
        float* u = U + off, dl = Delta + off, y = Y + off, z = hasZ ? Z + off : null, bp = B + bOff, cp = C + cOff;
        bool stream = StreamY && ((nint)y & 63) == 0;
        var carry = Vector512<float>.Zero;
        Vector512<float> h;
        int t = 0;
        for (; t + W <= len; t += W)
        {
            var yv = Forward(ref carry, Vector512.Load(u + t), Vector512.Load(dl + t), Vector512.Load(bp + t),
                Vector512.Load(cp + t), hasZ ? Vector512.Load(z + t) : default, av, dv, biasv, out h);
            if (stream) Vector512.StoreAlignedNonTemporal(yv, y + t);
            else Vector512.Store(yv, y + t);
        }
        int rest = len - t;
        if (rest > 0)
        {
            // Tail: zero padding after the valid steps (the scan is causal, so padding never reaches them).
            var yv = Forward(ref carry, Partial(u + t, rest), Partial(dl + t, rest), Partial(bp + t, rest),
                Partial(cp + t, rest), hasZ ? Partial(z + t, rest) : default, av, dv, biasv, out h);
            StorePartial(yv, y + t, rest);
            Last[r] = h.GetElement(rest - 1);
        }
        else Last[r] = carry.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Vector512<float> Forward(ref Vector512<float> carry, Vector512<float> u, Vector512<float> x, Vector512<float> bt,
        Vector512<float> ct, Vector512<float> z, Vector512<float> av, Vector512<float> dv, Vector512<float> biasv,
        out Vector512<float> h)
    {
        x += biasv;
        var dt = softplus ? Softplus(x) : x;
        var a = ExpF(dt * av);
        var b = dt * u * bt;
        InclusiveScan(ref a, ref b);
        h = Vector512.FusedMultiplyAdd(a, carry, b);
        carry = LastLane(h);
        var y = hasD ? Vector512.FusedMultiplyAdd(ct, h, dv * u) : ct * h;
        if (hasZ) y *= z * Sigmoid(z);
        return y;
    }

    /// <summary>
    /// Backward of a range of rows, reference-spec §1.3. <paramref name="scratch"/>: five row buffers;
    /// dB, dC (this thread's accumulators or the results) are summed into.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BackwardUnit(int unit, float* scratch, float* dB, float* dC)
    {
        int r1 = Math.Min(Rows, (unit + 1) * RowsPerUnit);
        for (int r = unit * RowsPerUnit; r < r1; r++) BackwardRow(r, scratch, dB, dC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void BackwardRow(int r, float* scratch, float* dB, float* dC)
    {
        var (d, off, bOff, cOff) = Locate(r);
        int padded = Padded;
        float* sDt = scratch, sSig = sDt + padded, sA = sSig + padded, sH = sA + padded, sGy = sH + padded;
        var av = Vector512.Create(aCoef[d]);
        var dv = Vector512.Create(hasD ? dSkip[d] : 0f);
        var biasv = Vector512.Create(bias != null ? bias[d] : 0f);
        var one = Vector512<float>.One;
        float* u = U + off, dl = Delta + off, g = G + off, z = hasZ ? Z + off : null, bp = B + bOff, cp = C + cOff;
        float* du = DU + off, ddl = DDelta + off, dz = hasZ ? DZ + off : null, dbp = dB + bOff, dcp = dC + cOff;

        // Pass 1: the forward again, keeping dt, σ(Δ + bias), a = exp(dt·A), h and gy = g·silu(z) (or g); dz.
        var carry = Vector512<float>.Zero;
        var dDacc = Vector512<float>.Zero;
        for (int t = 0; t < len; t += W)
        {
            int n = Math.Min(W, len - t);
            var x = Load(dl + t, n) + biasv;
            Vector512<float> dt, sig = one;
            dt = softplus ? SoftplusWithGrad(x, out sig) : x;
            var uv = Load(u + t, n);
            var a = ExpF(dt * av);
            var b = dt * uv * Load(bp + t, n);
            var ac = a;
            InclusiveScan(ref ac, ref b);
            var h = Vector512.FusedMultiplyAdd(ac, carry, b);
            carry = LastLane(h);
            var gv = Load(g + t, n);
            Vector512<float> gy;
            if (hasZ)
            {
                var zv = Load(z + t, n);
                var sz = Sigmoid(zv);
                var ct = Load(cp + t, n);
                var ypre = hasD ? Vector512.FusedMultiplyAdd(ct, h, dv * uv) : ct * h;
                gy = gv * zv * sz;                                                           // g·silu(z)
                Store(gv * ypre * sz * Vector512.FusedMultiplyAdd(zv, one - sz, one), dz + t, n);   // g·y·σ(z)(1 + z(1 − σ(z)))
            }
            else gy = gv;
            Vector512.Store(dt, sDt + t);
            Vector512.Store(sig, sSig + t);
            Vector512.Store(a, sA + t);
            Vector512.Store(h, sH + t);
            Vector512.Store(gy, sGy + t);
            dDacc = Vector512.FusedMultiplyAdd(gy, uv, dDacc);
        }

        // Pass 2: reverse scan dh_t = C_t·gy_t + a_{t+1}·dh_{t+1}, last block first; padded lanes have gy = 0, so dh = 0.
        var dhCarry = Vector512<float>.Zero;
        var aNext = one;
        var dAacc = Vector512<float>.Zero;
        var dBiasAcc = Vector512<float>.Zero;
        for (int t = padded - W; t >= 0; t -= W)
        {
            int n = Math.Min(W, len - t);
            var dt = Vector512.Load(sDt + t);
            var a = Vector512.Load(sA + t);
            var h = Vector512.Load(sH + t);
            var gy = Vector512.Load(sGy + t);
            var bt = Load(bp + t, n);
            var uv = Load(u + t, n);
            var c = Load(cp + t, n) * gy;
            var a1 = AlignRight(aNext, a, 1);                       // a_{t+1}; the last lane takes the next block's first
            SuffixScan(ref a1, ref c);
            var dh = Vector512.FusedMultiplyAdd(a1, dhCarry, c);
            dhCarry = Vector512.Create(dh.ToScalar());
            aNext = a;
            var hPrev = AlignRight(h, t > 0 ? Vector512.Load(sH + t - W) : Vector512<float>.Zero, 15);   // h_{t−1}
            var hA = a * hPrev;                                     // exp(dt·A)·h_{t−1}
            var dtDh = dt * dh;
            var duv = dtDh * bt;
            if (hasD) duv = Vector512.FusedMultiplyAdd(dv, gy, duv);
            var ddt = dh * Vector512.FusedMultiplyAdd(bt, uv, av * hA);
            dAacc = Vector512.FusedMultiplyAdd(dtDh, hA, dAacc);
            var dd = softplus ? ddt * Vector512.Load(sSig + t) : ddt;
            dBiasAcc += dd;
            Store(duv, du + t, n);
            Store(dd, ddl + t, n);
            Store(Load(dbp + t, n) + dtDh * uv, dbp + t, n);
            Store(Load(dcp + t, n) + gy * h, dcp + t, n);
        }
        DAPart[r] = Vector512.Sum(dAacc);
        DDPart[r] = Vector512.Sum(dDacc);
        DBiasPart[r] = Vector512.Sum(dBiasAcc);
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

    /// <summary>A full vector, or the first <paramref name="n"/> elements and zeros (the tail of a row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Load(float* p, int n) => n == W ? Vector512.Load(p) : Partial(p, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Vector512<float> v, float* p, int n)
    {
        if (n == W) Vector512.Store(v, p);
        else StorePartial(v, p, n);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static Vector512<float> Partial(float* p, int n)
    {
        var buf = stackalloc float[W];
        for (int i = 0; i < W; i++) buf[i] = i < n ? p[i] : 0f;
        return Vector512.Load(buf);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void StorePartial(Vector512<float> v, float* p, int n)
    {
        for (int i = 0; i < n; i++) p[i] = v.GetElement(i);
    }
}
