using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VisionSsm.Ops;

/// <summary>
/// The 256-bit (AVX2 + FMA) micro-kernels of <see cref="RowMajorGemm"/> and <see cref="Gemm.MatMul"/> for CPUs without
/// AVX-512: 6 rows of A broadcast as scalars against 2 or 1 vectors (16 or 8 columns) of a B row, 12 accumulators of
/// the 16 ymm registers (the register tile of BLIS's Haswell kernel). Same contract as the 512-bit tiles: C = A·B over
/// k steps with A[i, p] = a[i·rs + p·cs], accumulators starting at zero, at the <c>bias</c> row when given, or, with <c>accumulate</c>, at the stored C.
/// </summary>
internal static class RowMajorGemmAvx2
{
    public const int Lanes = 8;   // Vector256<float>

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    public static unsafe void Tile6x16(float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, int k, bool accumulate, float* bias = null)
    {
        Vector256<float> a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
        if (accumulate)
        {
            float* q = c;
            a00 = Vector256.Load(q); a01 = Vector256.Load(q + 8); q += ldc;
            a10 = Vector256.Load(q); a11 = Vector256.Load(q + 8); q += ldc;
            a20 = Vector256.Load(q); a21 = Vector256.Load(q + 8); q += ldc;
            a30 = Vector256.Load(q); a31 = Vector256.Load(q + 8); q += ldc;
            a40 = Vector256.Load(q); a41 = Vector256.Load(q + 8); q += ldc;
            a50 = Vector256.Load(q); a51 = Vector256.Load(q + 8);
        }
        else if (bias is not null)
        {
            a00 = a10 = a20 = a30 = a40 = a50 = Vector256.Load(bias);
            a01 = a11 = a21 = a31 = a41 = a51 = Vector256.Load(bias + 8);
        }
        else a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = default;
        for (int p = 0; p < k; p++)
        {
            float* ap = a + p * cs;
            float* br = b + p * ldb;
            var b0 = Vector256.Load(br); var b1 = Vector256.Load(br + 8);
            var v = Vector256.Create(ap[0]);
            a00 = Vector256.FusedMultiplyAdd(v, b0, a00); a01 = Vector256.FusedMultiplyAdd(v, b1, a01);
            v = Vector256.Create(ap[rs]);
            a10 = Vector256.FusedMultiplyAdd(v, b0, a10); a11 = Vector256.FusedMultiplyAdd(v, b1, a11);
            v = Vector256.Create(ap[2 * rs]);
            a20 = Vector256.FusedMultiplyAdd(v, b0, a20); a21 = Vector256.FusedMultiplyAdd(v, b1, a21);
            v = Vector256.Create(ap[3 * rs]);
            a30 = Vector256.FusedMultiplyAdd(v, b0, a30); a31 = Vector256.FusedMultiplyAdd(v, b1, a31);
            v = Vector256.Create(ap[4 * rs]);
            a40 = Vector256.FusedMultiplyAdd(v, b0, a40); a41 = Vector256.FusedMultiplyAdd(v, b1, a41);
            v = Vector256.Create(ap[5 * rs]);
            a50 = Vector256.FusedMultiplyAdd(v, b0, a50); a51 = Vector256.FusedMultiplyAdd(v, b1, a51);
        }
        a00.Store(c); a01.Store(c + 8); c += ldc;
        a10.Store(c); a11.Store(c + 8); c += ldc;
        a20.Store(c); a21.Store(c + 8); c += ldc;
        a30.Store(c); a31.Store(c + 8); c += ldc;
        a40.Store(c); a41.Store(c + 8); c += ldc;
        a50.Store(c); a51.Store(c + 8);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    public static unsafe void Tile6x8(float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, int k, bool accumulate, float* bias = null)
    {
        Vector256<float> a0, a1, a2, a3, a4, a5;
        if (accumulate)
        {
            a0 = Vector256.Load(c); a1 = Vector256.Load(c + ldc); a2 = Vector256.Load(c + 2 * ldc);
            a3 = Vector256.Load(c + 3 * ldc); a4 = Vector256.Load(c + 4 * ldc); a5 = Vector256.Load(c + 5 * ldc);
        }
        else a0 = a1 = a2 = a3 = a4 = a5 = bias is not null ? Vector256.Load(bias) : default;
        for (int p = 0; p < k; p++)
        {
            float* ap = a + p * cs;
            var bv = Vector256.Load(b + p * ldb);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[0]), bv, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[rs]), bv, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[2 * rs]), bv, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[3 * rs]), bv, a3);
            a4 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[4 * rs]), bv, a4);
            a5 = Vector256.FusedMultiplyAdd(Vector256.Create(ap[5 * rs]), bv, a5);
        }
        a0.Store(c); a1.Store(c + ldc); a2.Store(c + 2 * ldc); a3.Store(c + 3 * ldc); a4.Store(c + 4 * ldc); a5.Store(c + 5 * ldc);
    }

    /// <summary>One row of C, 8 columns (the M % 6 tail rows).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    public static unsafe void Row1x8(float* a, long cs, float* b, long ldb, float* c, int k, bool accumulate, float* bias = null)
    {
        var acc = accumulate ? Vector256.Load(c) : bias is not null ? Vector256.Load(bias) : default;
        for (int p = 0; p < k; p++) acc = Vector256.FusedMultiplyAdd(Vector256.Create(a[p * cs]), Vector256.Load(b + p * ldb), acc);
        acc.Store(c);
    }
}
