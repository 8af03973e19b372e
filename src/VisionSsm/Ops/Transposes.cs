using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VisionSsm.Ops;

/// <summary>
/// In-register W×W transposes (8×8 float, 4×4 double) between channel rows of mamba_ssm's (batch, D, L) layout and
/// the kernel's channels-in-lanes vectors, plus the matching lane reduction of W vectors at once. AVX only; callers
/// fall back to scalar code when <see cref="Supported"/> is false.
/// </summary>
internal static unsafe class Transposes
{
    public static bool Supported => Avx.IsSupported;

    /// <summary>
    /// Reads W rows of W elements (row r at <paramref name="src"/> + r·<paramref name="rowStride"/>) and writes
    /// their columns as W vectors to <paramref name="dst"/>, <paramref name="dstStride"/> vectors apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose<T>(T* src, long rowStride, Vector256<T>* dst, int dstStride) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var s = (float*)src;
            var d = (Vector256<float>*)dst;
            Transpose8(Avx.LoadVector256(s), Avx.LoadVector256(s + rowStride), Avx.LoadVector256(s + 2 * rowStride),
                Avx.LoadVector256(s + 3 * rowStride), Avx.LoadVector256(s + 4 * rowStride), Avx.LoadVector256(s + 5 * rowStride),
                Avx.LoadVector256(s + 6 * rowStride), Avx.LoadVector256(s + 7 * rowStride),
                out d[0], out d[dstStride], out d[2 * dstStride], out d[3 * dstStride],
                out d[4 * dstStride], out d[5 * dstStride], out d[6 * dstStride], out d[7 * dstStride]);
        }
        else
        {
            var s = (double*)src;
            var d = (Vector256<double>*)dst;
            Transpose4(Avx.LoadVector256(s), Avx.LoadVector256(s + rowStride), Avx.LoadVector256(s + 2 * rowStride),
                Avx.LoadVector256(s + 3 * rowStride), out d[0], out d[dstStride], out d[2 * dstStride], out d[3 * dstStride]);
        }
    }

    /// <summary>W consecutive vectors at <paramref name="src"/> (lanes = rows) back to W rows of W elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    /// <remarks>
    /// <paramref name="stream"/> uses non-temporal (cache-bypassing) stores, which need 32-byte-aligned rows: for
    /// outputs larger than the cache they save the read-for-ownership of every written line. Call
    /// <see cref="Sse.StoreFence"/> before another thread reads the result.
    /// </remarks>
    public static void TransposeBack<T>(Vector256<T>* src, T* dst, long rowStride, bool stream) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var s = (Vector256<float>*)src;
            var d = (float*)dst;
            Transpose8(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
            Store(d, o0, stream); Store(d + rowStride, o1, stream); Store(d + 2 * rowStride, o2, stream); Store(d + 3 * rowStride, o3, stream);
            Store(d + 4 * rowStride, o4, stream); Store(d + 5 * rowStride, o5, stream); Store(d + 6 * rowStride, o6, stream); Store(d + 7 * rowStride, o7, stream);
        }
        else
        {
            var s = (Vector256<double>*)src;
            var d = (double*)dst;
            Transpose4(s[0], s[1], s[2], s[3], out var o0, out var o1, out var o2, out var o3);
            Store(d, o0, stream); Store(d + rowStride, o1, stream); Store(d + 2 * rowStride, o2, stream); Store(d + 3 * rowStride, o3, stream);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* d, Vector256<float> v, bool stream)
    {
        if (stream) Avx.StoreAlignedNonTemporal(d, v);
        else Avx.Store(d, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(double* d, Vector256<double> v, bool stream)
    {
        if (stream) Avx.StoreAlignedNonTemporal(d, v);
        else Avx.Store(d, v);
    }

    /// <summary>
    /// The lane sums of W vectors (<paramref name="src"/>[k·stride], k &lt; W) as one vector: element k = Σ lanes of
    /// vector k. A horizontal-add tree: 9 instructions for 8 floats instead of 8 separate reductions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LaneSums<T>(Vector256<T>* src, int stride) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var s = (Vector256<float>*)src;
            var h01 = Avx.HorizontalAdd(s[0], s[stride]);
            var h23 = Avx.HorizontalAdd(s[2 * stride], s[3 * stride]);
            var h45 = Avx.HorizontalAdd(s[4 * stride], s[5 * stride]);
            var h67 = Avx.HorizontalAdd(s[6 * stride], s[7 * stride]);
            var h0123 = Avx.HorizontalAdd(h01, h23);
            var h4567 = Avx.HorizontalAdd(h45, h67);
            return Avx.Add(Avx.Permute2x128(h0123, h4567, 0x20), Avx.Permute2x128(h0123, h4567, 0x31)).As<float, T>();
        }
        else
        {
            var s = (Vector256<double>*)src;
            var h01 = Avx.HorizontalAdd(s[0], s[stride]);
            var h23 = Avx.HorizontalAdd(s[2 * stride], s[3 * stride]);
            return Avx.Add(Avx.Permute2x128(h01, h23, 0x20), Avx.Permute2x128(h01, h23, 0x31)).As<double, T>();
        }
    }

    /// <summary>The 8×8 float transpose in registers: output j holds lane j of every input, input i in lane i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        out Vector256<float> o0, out Vector256<float> o1, out Vector256<float> o2, out Vector256<float> o3,
        out Vector256<float> o4, out Vector256<float> o5, out Vector256<float> o6, out Vector256<float> o7)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        o0 = Avx.Permute2x128(u0, u4, 0x20);
        o1 = Avx.Permute2x128(u1, u5, 0x20);
        o2 = Avx.Permute2x128(u2, u6, 0x20);
        o3 = Avx.Permute2x128(u3, u7, 0x20);
        o4 = Avx.Permute2x128(u0, u4, 0x31);
        o5 = Avx.Permute2x128(u1, u5, 0x31);
        o6 = Avx.Permute2x128(u2, u6, 0x31);
        o7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose4(Vector256<double> r0, Vector256<double> r1, Vector256<double> r2, Vector256<double> r3,
        out Vector256<double> o0, out Vector256<double> o1, out Vector256<double> o2, out Vector256<double> o3)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        o0 = Avx.Permute2x128(t0, t2, 0x20);
        o1 = Avx.Permute2x128(t1, t3, 0x20);
        o2 = Avx.Permute2x128(t0, t2, 0x31);
        o3 = Avx.Permute2x128(t1, t3, 0x31);
    }
}
