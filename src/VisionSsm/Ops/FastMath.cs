using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VisionSsm.Ops;

/// <summary>
/// Inlined Vector256 elementary functions for the CPU kernels, generic over float and double (the JIT removes the
/// dead type branch). We do not call the BCL's <c>Vector256.Exp</c>: it is not inlined, widens float to double and
/// under default tiered compilation keeps a kernel on slow code for many calls (docs/architecture.md §6).
/// Accuracy: float exp ≈ 1–2 ulp (Cephes expf polynomial), double exp ≈ 1e-15 relative (degree-12 Taylor on
/// |r| ≤ ln2/2), log1p via the atanh series, ≤ 1e-9 (float) / 1e-16 (double) truncation error.
/// </summary>
internal static class FastMath
{
    /// <summary>The constant <paramref name="v"/> as T (float or double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Const<T>(double v) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { float f = (float)v; return Unsafe.As<float, T>(ref f); }
        return Unsafe.As<double, T>(ref v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Splat<T>(double v) where T : unmanaged => Vector256.Create(Const<T>(v));

    /// <summary>a·b + c with one rounding (FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
        return a * b + c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp<T>(Vector256<T> x) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return ExpF(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return ExpD(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>
    /// exp for float: x = k·ln2 + r, |r| ≤ ln2/2, Cephes expf polynomial for e^r, 2^k built in the exponent bits.
    /// k is rounded with the 1.5·2^23 "magic number" (its integer lands in the low mantissa bits, so no round or
    /// float→int conversion instruction is needed; .NET 10's saturating conversion costs four instructions).
    /// Inputs are clamped to [-87, 88] so 2^k stays a normal number (e^-87 ≈ 1.6e-38 stands in for smaller values).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpF(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87f)), Vector256.Create(88f));
        var magic = Vector256.Create(12582912f);                                     // 1.5·2^23
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(1.44269504088896341f), magic);
        var k = t - magic;                                                           // round(x·log2 e)
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(1.9875691500e-4f), r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        // bits(t) = bits(magic) + k, and bits(magic) << 23 vanishes mod 2^32, so (bits(t) + 127) << 23 = bits(2^k).
        var pow2 = Vector256.ShiftLeft(t.As<float, int>() + Vector256.Create(127), 23).As<int, float>();
        return y * pow2;
    }

    /// <summary>
    /// 2^x for float, for callers that can fold log2(e) into a constant operand (the scan's exp(Δ·A) = 2^(Δ·A·log2 e)
    /// with A·log2 e prepared once): x = k + f, k = round(x) by the 1.5·2^23 magic number, |f| ≤ ½, 2^f by a degree-5
    /// minimax polynomial (relative error 7.5e-8, ≈ 2e-7 with float rounding), and 2^k added into the exponent bits
    /// instead of multiplied. Against <see cref="ExpF(Vector256{float})"/> this takes 6 multiply-pipe operations instead
    /// of 13 (no range reduction by ln2, no final product), which is what bounds the N ≥ 2 lane scan on CPUs whose
    /// 256-bit FMAs are two 128-bit halves. Inputs are clamped to [-125, 127] so 2^f·2^k stays a normal number
    /// (2^-125 ≈ 2.4e-38 stands in for smaller values, as e^-87 does in ExpF).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2F(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-125f)), Vector256.Create(127f));
        var magic = Vector256.Create(12582912f);                                     // 1.5·2^23
        var t = x + magic;
        var f = x - (t - magic);                                                     // x − round(x), in [-½, ½]
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(1.3276472e-3f), f, Vector256.Create(9.6755428e-3f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(5.5507135e-2f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(2.4022120e-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(6.9314694e-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(1.0000001f));
        // bits(t) << 23 = k << 23 (the magic number's bits shift out, as in ExpF): adding it to p's exponent is p·2^k.
        return (p.As<float, int>() + Vector256.ShiftLeft(t.As<float, int>(), 23)).As<int, float>();
    }

    /// <summary>
    /// <see cref="ExpF"/> on 16 lanes, for the exp-bound N ≥ 2 scan loops on CPUs with full-width AVX-512 (the BCL's
    /// Vector512.Exp is far slower, docs/architecture.md §6). Same polynomial and rounding of k (to nearest). With AVX-512F,
    /// k is rounded by vrndscaleps and 2^k applied by vscalefps, which handles overflow and underflow itself, so the
    /// clamp of the bit trick is not needed: e^x saturates to +∞ above ~88.7 and goes through the subnormals to 0
    /// below ~−87.3, like expf. The two instructions and the dropped clamp take ~10% off an N = 64 scan (`vgamba-mamba`).
    /// Without AVX-512F: the bit trick, with inputs clamped to [-87, 88] as in the 8-lane version.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpF(Vector512<float> x)
    {
        if (Avx512F.IsSupported)
        {
            var kr = Avx512F.RoundScale(x * Vector512.Create(1.44269504088896341f), 0);   // imm 0: round to nearest even
            return Avx512F.Scale(ExpReduced(kr, x), kr);
        }
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-87f)), Vector512.Create(88f));
        var magic = Vector512.Create(12582912f);
        var t = Vector512.FusedMultiplyAdd(x, Vector512.Create(1.44269504088896341f), magic);
        var k = t - magic;
        var pow2 = Vector512.ShiftLeft(t.As<float, int>() + Vector512.Create(127), 23).As<int, float>();
        return ExpReduced(k, x) * pow2;
    }

    /// <summary>
    /// <see cref="Exp2F(Vector256{float})"/> on 16 lanes (same degree-5 polynomial, k rounded to nearest), for the
    /// exp-bound N ≥ 2 scan loops on full-width AVX-512 with A·log2 e prepared: x = k + f, 2^f by the polynomial, and
    /// with AVX-512F k by vrndscaleps and 2^k by vscalefps (overflow to +∞, underflow through the subnormals to 0, so no
    /// clamp), 8 operations against <see cref="ExpF(Vector512{float})"/>'s 13. Without AVX-512F: the 8-lane bit trick
    /// with its clamp to [-125, 127].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2F(Vector512<float> x)
    {
        if (!Avx512F.IsSupported) return Vector512.Create(Exp2F(x.GetLower()), Exp2F(x.GetUpper()));
        var k = Avx512F.RoundScale(x, 0);                                            // imm 0: round to nearest even
        var f = x - k;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.3276472e-3f), f, Vector512.Create(9.6755428e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(5.5507135e-2f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(2.4022120e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(6.9314694e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.0000001f));
        return Avx512F.Scale(p, k);
    }

    /// <summary>e^r for r = x − k·ln2 (two-part ln2), by the Cephes expf polynomial: e^x / 2^k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> ExpReduced(Vector512<float> k, Vector512<float> x)
    {
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        return Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
    }

    /// <summary>exp for double: x = k·ln2 + r (two-part ln2), degree-12 Taylor polynomial for e^r, clamp [-708, 709], k by the magic number 1.5·2^52.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> ExpD(Vector256<double> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-708.0)), Vector256.Create(709.0));
        var magic = Vector256.Create(6755399441055744.0);                              // 1.5·2^52, as in ExpF
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(1.4426950408889634), magic);
        var k = t - magic;
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-6.93145751953125e-1), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-1.42860682030941723212e-6), r);
        var p = Vector256.Create(1.0 / 479001600);                                 // 1/12!
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 39916800));     // 1/11!
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 3628800));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 362880));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 40320));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 5040));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        var pow2 = Vector256.ShiftLeft(t.As<double, long>() + Vector256.Create(1023L), 52).As<long, double>();
        return p * pow2;
    }

    /// <summary>
    /// log(1 + e) for e in [0, 1]: 1 + e = 2^j·m with m in [1, √2) (j ∈ {0, 1}), f = m − 1 computed without
    /// cancellation, log m = 2·atanh(f / (2 + f)) by its odd series (|s| ≤ 0.172).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Log1pUnit<T>(Vector256<T> e) where T : unmanaged
    {
        var one = Splat<T>(1.0);
        var big = Vector256.GreaterThan(e, Splat<T>(0.41421356237309505));          // 1 + e > √2
        var f = Vector256.ConditionalSelect(big, (e - one) * Splat<T>(0.5), e);
        var s = f / (Splat<T>(2.0) + f);
        var s2 = s * s;
        Vector256<T> p;
        if (typeof(T) == typeof(float))
        {
            p = Fma(Splat<T>(1.0 / 9), s2, Splat<T>(1.0 / 7));
            p = Fma(p, s2, Splat<T>(1.0 / 5));
            p = Fma(p, s2, Splat<T>(1.0 / 3));
        }
        else
        {
            p = Fma(Splat<T>(1.0 / 21), s2, Splat<T>(1.0 / 19));
            for (int i = 17; i >= 3; i -= 2) p = Fma(p, s2, Splat<T>(1.0 / i));
        }
        p = Fma(p, s2, one);
        var logm = (s + s) * p;
        return Fma(Vector256.ConditionalSelect(big, one, Vector256<T>.Zero), Splat<T>(0.69314718055994531), logm);
    }

    /// <summary>softplus with PyTorch's threshold 20: x for x &gt; 20, else max(x, 0) + log1p(exp(−|x|)) (docs/selective-scan.md §2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Softplus<T>(Vector256<T> x) where T : unmanaged
    {
        var sp = Vector256.Max(x, Vector256<T>.Zero) + Log1pUnit(Exp(-Vector256.Abs(x)));
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Splat<T>(20.0)), x, sp);
    }

    /// <summary>
    /// softplus(x) and its derivative σ(x) (1 above the threshold 20) from one exp: with e = exp(−|x|),
    /// σ(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x &lt; 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> SoftplusWithGrad<T>(Vector256<T> x, out Vector256<T> grad) where T : unmanaged
    {
        var one = Splat<T>(1.0);
        var e = Exp(-Vector256.Abs(x));
        var above = Vector256.GreaterThan(x, Splat<T>(20.0));
        var sig = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<T>.Zero), one, e) / (one + e);
        grad = Vector256.ConditionalSelect(above, one, sig);
        return Vector256.ConditionalSelect(above, x, Vector256.Max(x, Vector256<T>.Zero) + Log1pUnit(e));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Sigmoid<T>(Vector256<T> x) where T : unmanaged
    {
        var one = Splat<T>(1.0);
        return one / (one + Exp(-x));
    }

    // ExpF on a pair and twins of Log1pUnit, Softplus, SoftplusWithGrad and Sigmoid on a VectorPair (2 × 16 float lanes in
    // lockstep) for the N = 1 row kernel (ScanRowKernel); same formulas, constants and polynomial degrees as above.

    /// <summary><see cref="ExpF(Vector512{float})"/> on each half of the pair (two independent chains the
    /// out-of-order window overlaps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair ExpF(VectorPair x) => new(ExpF(x.Lo), ExpF(x.Hi));

    /// <summary><see cref="Log1pUnit{T}(Vector256{T})"/> on a pair of 16-lane float vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Log1pUnit(VectorPair e)
    {
        var one = VectorPair.One;
        var big = VectorPair.GreaterThan(e, VectorPair.Splat(0.41421356237309505f));
        var f = VectorPair.Select(big, (e - one) * VectorPair.Splat(0.5f), e);
        var s = f / (VectorPair.Splat(2f) + f);
        var s2 = s * s;
        var p = VectorPair.Fma(VectorPair.Splat(1f / 9), s2, VectorPair.Splat(1f / 7));
        p = VectorPair.Fma(p, s2, VectorPair.Splat(1f / 5));
        p = VectorPair.Fma(p, s2, VectorPair.Splat(1f / 3));
        p = VectorPair.Fma(p, s2, one);
        var logm = (s + s) * p;
        return VectorPair.Fma(VectorPair.Select(big, one, VectorPair.Zero), VectorPair.Splat(0.69314718055994531f), logm);
    }

    /// <summary><see cref="Softplus{T}(Vector256{T})"/> on a pair of 16-lane float vectors (threshold 20).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Softplus(VectorPair x)
    {
        var sp = VectorPair.Max(x, VectorPair.Zero) + Log1pUnit(ExpF(-VectorPair.Abs(x)));
        return VectorPair.Select(VectorPair.GreaterThan(x, VectorPair.Splat(20f)), x, sp);
    }

    /// <summary><see cref="SoftplusWithGrad{T}(Vector256{T}, out Vector256{T})"/> on a pair of 16-lane float vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair SoftplusWithGrad(VectorPair x, out VectorPair grad)
    {
        var one = VectorPair.One;
        var e = ExpF(-VectorPair.Abs(x));
        var above = VectorPair.GreaterThan(x, VectorPair.Splat(20f));
        var sig = VectorPair.Select(VectorPair.GreaterThanOrEqual(x, VectorPair.Zero), one, e) / (one + e);
        grad = VectorPair.Select(above, one, sig);
        return VectorPair.Select(above, x, VectorPair.Max(x, VectorPair.Zero) + Log1pUnit(e));
    }

    /// <summary>σ(x) on a pair of 16-lane float vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Sigmoid(VectorPair x) => VectorPair.One / (VectorPair.One + ExpF(-x));

    // Twins on a VectorPair256 (2 × 8 float lanes in lockstep) for the lane scan's per-step elementwise math: the
    // softplus of Δ and the SiLU gate, with e^x as 2^(x·log2 e) by Exp2F's polynomial (fewer multiply-pipe operations
    // than ExpF's). Relative error ≈ 2e-7 plus |x|·6e-8·ln 2 from rounding the argument x·log2 e (ExpF's two-part ln 2
    // avoids that term): at most 2e-8 absolute in softplus and σ, whose large-|x| values are then e^−|x|-small.

    /// <summary><see cref="Exp2F(Vector256{float})"/> on a pair: same clamp, rounding and polynomial.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Exp2F(VectorPair256 x)
    {
        x = VectorPair256.Min(VectorPair256.Max(x, VectorPair256.Splat(-125f)), VectorPair256.Splat(127f));
        var magic = VectorPair256.Splat(12582912f);
        var t = x + magic;
        var f = x - (t - magic);
        var p = VectorPair256.Fma(VectorPair256.Splat(1.3276472e-3f), f, VectorPair256.Splat(9.6755428e-3f));
        p = VectorPair256.Fma(p, f, VectorPair256.Splat(5.5507135e-2f));
        p = VectorPair256.Fma(p, f, VectorPair256.Splat(2.4022120e-1f));
        p = VectorPair256.Fma(p, f, VectorPair256.Splat(6.9314694e-1f));
        p = VectorPair256.Fma(p, f, VectorPair256.Splat(1.0000001f));
        return VectorPair256.AddBits(p, VectorPair256.ShiftBitsLeft(t, 23));
    }

    /// <summary><see cref="Log1pUnit{T}(Vector256{T})"/> (float) on a pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Log1pUnit(VectorPair256 e)
    {
        var one = VectorPair256.One;
        var big = VectorPair256.GreaterThan(e, VectorPair256.Splat(0.41421356237309505f));
        var f = VectorPair256.Select(big, (e - one) * VectorPair256.Splat(0.5f), e);
        var s = f / (VectorPair256.Splat(2f) + f);
        var s2 = s * s;
        var p = VectorPair256.Fma(VectorPair256.Splat(1f / 9), s2, VectorPair256.Splat(1f / 7));
        p = VectorPair256.Fma(p, s2, VectorPair256.Splat(1f / 5));
        p = VectorPair256.Fma(p, s2, VectorPair256.Splat(1f / 3));
        p = VectorPair256.Fma(p, s2, one);
        var logm = (s + s) * p;
        return VectorPair256.Fma(VectorPair256.Select(big, one, VectorPair256.Zero), VectorPair256.Splat(0.69314718055994531f), logm);
    }

    /// <summary>softplus (threshold 20, <see cref="Softplus{T}(Vector256{T})"/>) on a pair, e^−|x| by the base-2 exp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Softplus(VectorPair256 x)
    {
        var e = Exp2F(VectorPair256.Abs(x) * VectorPair256.Splat(-1.44269504088896341f));
        var sp = VectorPair256.Max(x, VectorPair256.Zero) + Log1pUnit(e);
        return VectorPair256.Select(VectorPair256.GreaterThan(x, VectorPair256.Splat(20f)), x, sp);
    }

    /// <summary>x·σ(x) (SiLU) on a pair, e^−x by the base-2 exp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Silu(VectorPair256 x) =>
        x / (VectorPair256.One + Exp2F(x * VectorPair256.Splat(-1.44269504088896341f)));
}
