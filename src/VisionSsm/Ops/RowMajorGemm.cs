using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// C (M, N) = A (M, K) · B (K, N), or Aᵀ · B for A stored (K, M), on float32 row-major matrices: the three products
/// of a token-major linear layer's training step (y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x).
/// Why: at the small-image sizes of training (K, N = 32…1024, M up to 96·196 tokens) libtorch's MKL runs its AVX2 path
/// with packing overhead (`gemm --train` bench); this is the broadcast micro-kernel of <see cref="Gemm"/>'s channel-major
/// form (6 rows of A as scalars × 64 or 32 columns of B as vectors) with A read through strides, so Aᵀ needs no copy,
/// and the reduction cut into blocks of <see cref="ReductionBlock"/> so a block of B stays in L2 while all row tiles
/// pass. Each output is one thread's fixed instruction sequence: results do not depend on the thread count.
/// The slow twin is <see cref="MultiplyReference"/> (torch.mm).
/// </summary>
public static class RowMajorGemm
{
    const int Lanes = 16;                 // Vector512<float>
    const int TileRows = 6;
    internal const int ReductionBlock = 256;
    /// <summary>Columns of C per cache block: a 256 × 256 block of B (256 KB) stays in L2 while every row tile of the
    /// thread passes over it; without it a wide B (N = 1536, 3072) streamed from L3 for every 6 rows.</summary>
    internal const int ColumnBlock = 256;

    /// <summary>True when the kernels can run on this CPU: the 512-bit tiles with AVX-512, else the 256-bit ones
    /// (<see cref="RowMajorGemmAvx2"/>) with AVX2 and FMA.</summary>
    public static bool KernelSupported => Gemm.KernelSupported || (Vector256.IsHardwareAccelerated && Fma.IsSupported && Avx2.IsSupported);

    /// <summary>True when the 512-bit tiles run (AVX-512); else the 256-bit ones.</summary>
    internal static bool Wide => Gemm.KernelSupported;

    /// <summary>True when <see cref="Multiply"/> can run: AVX-512 or AVX2 + FMA, float32 CPU 2-D operands, N a multiple of 16.</summary>
    public static bool Applies(Tensor a, Tensor b) =>
        KernelSupported && a.dim() == 2 && b.dim() == 2 && b.shape[1] % Lanes == 0 && b.shape[1] > 0
        && a.dtype == ScalarType.Float32 && b.dtype == ScalarType.Float32
        && a.device_type == DeviceType.CPU && b.device_type == DeviceType.CPU;

    /// <summary>The twin: <c>torch.mm(transposeA ? aᵀ : a, b)</c>, or <c>torch.addmm(bias, …)</c> with a bias row.</summary>
    public static Tensor MultiplyReference(Tensor a, Tensor b, bool transposeA = false, Tensor? bias = null)
    {
        using var at = transposeA ? a.t() : a.alias();
        return bias is null ? mm(at, b) : addmm(bias, at, b, 1, 1);
    }

    /// <summary>
    /// C = A·B (A (M, K)) or, with <paramref name="transposeA"/>, Aᵀ·B (A stored (K, M)); B (K, N) with N a multiple of
    /// 16 (<see cref="Applies"/>); plus <paramref name="bias"/> (N) on every row when given — added in the accumulators'
    /// start, not in a second pass over C. No autograd. Non-contiguous operands are copied first.
    /// </summary>
    public static Tensor Multiply(Tensor a, Tensor b, bool transposeA = false, ParallelOptions? parallelism = null, Tensor? bias = null) =>
        Multiply(a, b, transposeA, parallelism, null, bias);

    /// <summary>
    /// The dispatching entry of the training products: <see cref="Multiply"/> or <see cref="MultiplyReference"/>, as
    /// <see cref="KernelOptions.Choice"/> decides (by measurement per shape class unless forced); libtorch when the kernel
    /// cannot run (<see cref="Applies"/>).
    /// </summary>
    public static Tensor Product(Tensor a, Tensor b, bool transposeA = false, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!Applies(a, b)) return MultiplyReference(a, b, transposeA, bias);
        long m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1];
        var key = KernelChooser.Key(transposeA ? "row_major_gemm.at" : "row_major_gemm", "f32", TorchRuntime.KernelParallelism.MaxDegreeOfParallelism, m, k, b.shape[1]);
        return KernelChooser.Process.PreferOurs(KernelOptions.Current.Choice, key,
                () => Multiply(a, b, transposeA, null, bias).Dispose(), () => MultiplyReference(a, b, transposeA, bias).Dispose())
            ? Multiply(a, b, transposeA, null, bias) : MultiplyReference(a, b, transposeA, bias);
    }

    /// <summary><see cref="Multiply"/> with the tile width forced (<paramref name="wide"/> true: 512-bit, false: 256-bit;
    /// null: the widest this CPU has), so tests reach both on an AVX-512 machine.</summary>
    internal static Tensor Multiply(Tensor a, Tensor b, bool transposeA, ParallelOptions? parallelism, bool? wide, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!Applies(a, b))
            throw new ArgumentException($"RowMajorGemm needs AVX-512 or AVX2 + FMA and float32 CPU matrices with N a multiple of {Lanes}; got {ScanArguments.Fmt(a.shape)} · {ScanArguments.Fmt(b.shape)}.");
        long m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1], n = b.shape[1];
        if (b.shape[0] != k)
            throw new ArgumentException($"inner sizes differ: {(transposeA ? "aᵀ" : "a")} is ({m}, {k}), b is {ScanArguments.Fmt(b.shape)}.", nameof(b));
        if (wide == true && !Gemm.KernelSupported) throw new PlatformNotSupportedException("RowMajorGemm's 512-bit tiles need AVX-512.");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != n || bias.dtype != ScalarType.Float32 || bias.device_type != DeviceType.CPU))
            throw new ArgumentException($"bias must be a float32 CPU vector of N = {n}; got {ScanArguments.Fmt(bias.shape)} {bias.dtype} on {bias.device_type}.", nameof(bias));
        var c = empty(m, n, dtype: ScalarType.Float32);
        if (m == 0) return c;
        if (k == 0) return bias is null ? c.zero_() : c.copy_(bias.expand(m, n));
        using (NewDisposeScope())
        {
            var ac = a.is_contiguous() ? a : a.contiguous();
            var bc = b.is_contiguous() ? b : b.contiguous();
            var biasc = bias is null || bias.is_contiguous() ? bias : bias.contiguous();
            unsafe
            {
                var job = new Job
                {
                    A = SelectiveScanCpu.Ptr<float>(ac), B = SelectiveScanCpu.Ptr<float>(bc), C = SelectiveScanCpu.Ptr<float>(c),
                    BiasRow = biasc is null ? null : SelectiveScanCpu.Ptr<float>(biasc),
                    M = m, N = (int)n, K = k,
                    RowStride = transposeA ? 1 : k, ColStride = transposeA ? m : 1, Wide = wide ?? Wide,
                };
                var options = parallelism ?? TorchRuntime.KernelParallelism;
                long rowTiles = (m + TileRows - 1) / TileRows;
                int parts = (int)Math.Min(Math.Max(1, options.MaxDegreeOfParallelism), rowTiles);
                if (parts == 1 || m * n * k < 1 << 18) job.Run(0, m);
                else OpenMpTeam.For(0, parts, options, p => job.Run(Math.Min(m, rowTiles * p / parts * TileRows), Math.Min(m, rowTiles * (p + 1) / parts * TileRows)));
            }
            GC.KeepAlive(ac); GC.KeepAlive(bc); GC.KeepAlive(biasc);
        }
        return c;
    }

    unsafe struct Job
    {
        public float* A, B, C, BiasRow;           // BiasRow (N) or null: the accumulators' start in the first reduction block
        public long M, K, RowStride, ColStride;   // A[i, p] = A[i·RowStride + p·ColStride]
        public int N;
        public bool Wide;                         // 512-bit tiles; else RowMajorGemmAvx2's 256-bit ones

        readonly float* Bias(int col) => BiasRow is null ? null : BiasRow + col;

        /// <summary>Rows [r0, r1) of C, the reduction in blocks: a block of B rows is reused by every row tile.</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(long r0, long r1)
        {
            if (!Wide) { RunAvx2(r0, r1); return; }
            for (long p0 = 0; p0 < K; p0 += ReductionBlock)
            {
                int kLen = (int)Math.Min(ReductionBlock, K - p0);
                bool accumulate = p0 > 0;
                float* b = B + p0 * N;
                for (int c0 = 0; c0 < N; c0 += ColumnBlock)
                {
                    int c1 = Math.Min(N, c0 + ColumnBlock);
                    long r = r0;
                    for (; r + TileRows <= r1; r += TileRows)
                    {
                        float* a = A + r * RowStride + p0 * ColStride;
                        float* c = C + r * N;
                        int col = c0;
                        for (; col + 4 * Lanes <= c1; col += 4 * Lanes) Tile6x64(a, RowStride, ColStride, b + col, N, c + col, N, kLen, accumulate, Bias(col));
                        if (col + 2 * Lanes <= c1) { Tile6x32(a, RowStride, ColStride, b + col, N, c + col, N, kLen, accumulate, Bias(col)); col += 2 * Lanes; }
                        if (col < c1) Tile6x16(a, RowStride, ColStride, b + col, N, c + col, N, kLen, accumulate, Bias(col));
                    }
                    for (; r < r1; r++)
                        for (int col = c0; col < c1; col += Lanes)
                            Row1x16(A + r * RowStride + p0 * ColStride, ColStride, b + col, N, C + r * N + col, kLen, accumulate, Bias(col));
                }
            }
        }

        /// <summary><see cref="Run"/> on the 256-bit tiles: 16 columns per tile, an 8-column tile for N % 16.</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        readonly void RunAvx2(long r0, long r1)
        {
            const int L = RowMajorGemmAvx2.Lanes;
            for (long p0 = 0; p0 < K; p0 += ReductionBlock)
            {
                int kLen = (int)Math.Min(ReductionBlock, K - p0);
                bool accumulate = p0 > 0;
                float* b = B + p0 * N;
                for (int c0 = 0; c0 < N; c0 += ColumnBlock)
                {
                    int c1 = Math.Min(N, c0 + ColumnBlock);
                    long r = r0;
                    for (; r + TileRows <= r1; r += TileRows)
                    {
                        float* a = A + r * RowStride + p0 * ColStride;
                        float* c = C + r * N;
                        int col = c0;
                        for (; col + 2 * L <= c1; col += 2 * L) RowMajorGemmAvx2.Tile6x16(a, RowStride, ColStride, b + col, N, c + col, N, kLen, accumulate, Bias(col));
                        if (col < c1) RowMajorGemmAvx2.Tile6x8(a, RowStride, ColStride, b + col, N, c + col, N, kLen, accumulate, Bias(col));
                    }
                    for (; r < r1; r++)
                        for (int col = c0; col < c1; col += L)
                            RowMajorGemmAvx2.Row1x8(A + r * RowStride + p0 * ColStride, ColStride, b + col, N, C + r * N + col, kLen, accumulate, Bias(col));
                }
            }
        }
    }

    // The micro-kernels: 6 rows of A broadcast as scalars against 4, 2 or 1 vectors of a B row; accumulators start at
    // zero or the bias row or, after the first reduction block, at the stored partial C. Gemm.MatMul's channel-major job uses them too.

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    internal static unsafe void Tile6x64(float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, int k, bool accumulate, float* bias = null)
    {
        Vector512<float> a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33, a40, a41, a42, a43, a50, a51, a52, a53;
        if (accumulate)
        {
            float* q = c;
            a00 = Vector512.Load(q); a01 = Vector512.Load(q + 16); a02 = Vector512.Load(q + 32); a03 = Vector512.Load(q + 48); q += ldc;
            a10 = Vector512.Load(q); a11 = Vector512.Load(q + 16); a12 = Vector512.Load(q + 32); a13 = Vector512.Load(q + 48); q += ldc;
            a20 = Vector512.Load(q); a21 = Vector512.Load(q + 16); a22 = Vector512.Load(q + 32); a23 = Vector512.Load(q + 48); q += ldc;
            a30 = Vector512.Load(q); a31 = Vector512.Load(q + 16); a32 = Vector512.Load(q + 32); a33 = Vector512.Load(q + 48); q += ldc;
            a40 = Vector512.Load(q); a41 = Vector512.Load(q + 16); a42 = Vector512.Load(q + 32); a43 = Vector512.Load(q + 48); q += ldc;
            a50 = Vector512.Load(q); a51 = Vector512.Load(q + 16); a52 = Vector512.Load(q + 32); a53 = Vector512.Load(q + 48);
        }
        else if (bias is not null)
        {
            a00 = a10 = a20 = a30 = a40 = a50 = Vector512.Load(bias);
            a01 = a11 = a21 = a31 = a41 = a51 = Vector512.Load(bias + 16);
            a02 = a12 = a22 = a32 = a42 = a52 = Vector512.Load(bias + 32);
            a03 = a13 = a23 = a33 = a43 = a53 = Vector512.Load(bias + 48);
        }
        else
        {
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = default;
            a30 = a31 = a32 = a33 = a40 = a41 = a42 = a43 = a50 = a51 = a52 = a53 = default;
        }
        for (int p = 0; p < k; p++)
        {
            float* ap = a + p * cs;
            float* br = b + p * ldb;
            var b0 = Vector512.Load(br); var b1 = Vector512.Load(br + 16); var b2 = Vector512.Load(br + 32); var b3 = Vector512.Load(br + 48);
            var v = Vector512.Create(ap[0]);
            a00 = Vector512.FusedMultiplyAdd(v, b0, a00); a01 = Vector512.FusedMultiplyAdd(v, b1, a01); a02 = Vector512.FusedMultiplyAdd(v, b2, a02); a03 = Vector512.FusedMultiplyAdd(v, b3, a03);
            v = Vector512.Create(ap[rs]);
            a10 = Vector512.FusedMultiplyAdd(v, b0, a10); a11 = Vector512.FusedMultiplyAdd(v, b1, a11); a12 = Vector512.FusedMultiplyAdd(v, b2, a12); a13 = Vector512.FusedMultiplyAdd(v, b3, a13);
            v = Vector512.Create(ap[2 * rs]);
            a20 = Vector512.FusedMultiplyAdd(v, b0, a20); a21 = Vector512.FusedMultiplyAdd(v, b1, a21); a22 = Vector512.FusedMultiplyAdd(v, b2, a22); a23 = Vector512.FusedMultiplyAdd(v, b3, a23);
            v = Vector512.Create(ap[3 * rs]);
            a30 = Vector512.FusedMultiplyAdd(v, b0, a30); a31 = Vector512.FusedMultiplyAdd(v, b1, a31); a32 = Vector512.FusedMultiplyAdd(v, b2, a32); a33 = Vector512.FusedMultiplyAdd(v, b3, a33);
            v = Vector512.Create(ap[4 * rs]);
            a40 = Vector512.FusedMultiplyAdd(v, b0, a40); a41 = Vector512.FusedMultiplyAdd(v, b1, a41); a42 = Vector512.FusedMultiplyAdd(v, b2, a42); a43 = Vector512.FusedMultiplyAdd(v, b3, a43);
            v = Vector512.Create(ap[5 * rs]);
            a50 = Vector512.FusedMultiplyAdd(v, b0, a50); a51 = Vector512.FusedMultiplyAdd(v, b1, a51); a52 = Vector512.FusedMultiplyAdd(v, b2, a52); a53 = Vector512.FusedMultiplyAdd(v, b3, a53);
        }
        a00.Store(c); a01.Store(c + 16); a02.Store(c + 32); a03.Store(c + 48); c += ldc;
        a10.Store(c); a11.Store(c + 16); a12.Store(c + 32); a13.Store(c + 48); c += ldc;
        a20.Store(c); a21.Store(c + 16); a22.Store(c + 32); a23.Store(c + 48); c += ldc;
        a30.Store(c); a31.Store(c + 16); a32.Store(c + 32); a33.Store(c + 48); c += ldc;
        a40.Store(c); a41.Store(c + 16); a42.Store(c + 32); a43.Store(c + 48); c += ldc;
        a50.Store(c); a51.Store(c + 16); a52.Store(c + 32); a53.Store(c + 48);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Tile6x32(float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, int k, bool accumulate, float* bias = null)
    {
        Vector512<float> a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
        if (accumulate)
        {
            float* q = c;
            a00 = Vector512.Load(q); a01 = Vector512.Load(q + 16); q += ldc;
            a10 = Vector512.Load(q); a11 = Vector512.Load(q + 16); q += ldc;
            a20 = Vector512.Load(q); a21 = Vector512.Load(q + 16); q += ldc;
            a30 = Vector512.Load(q); a31 = Vector512.Load(q + 16); q += ldc;
            a40 = Vector512.Load(q); a41 = Vector512.Load(q + 16); q += ldc;
            a50 = Vector512.Load(q); a51 = Vector512.Load(q + 16);
        }
        else if (bias is not null)
        {
            a00 = a10 = a20 = a30 = a40 = a50 = Vector512.Load(bias);
            a01 = a11 = a21 = a31 = a41 = a51 = Vector512.Load(bias + 16);
        }
        else a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = default;
        for (int p = 0; p < k; p++)
        {
            float* ap = a + p * cs;
            float* br = b + p * ldb;
            var b0 = Vector512.Load(br); var b1 = Vector512.Load(br + 16);
            var v = Vector512.Create(ap[0]);
            a00 = Vector512.FusedMultiplyAdd(v, b0, a00); a01 = Vector512.FusedMultiplyAdd(v, b1, a01);
            v = Vector512.Create(ap[rs]);
            a10 = Vector512.FusedMultiplyAdd(v, b0, a10); a11 = Vector512.FusedMultiplyAdd(v, b1, a11);
            v = Vector512.Create(ap[2 * rs]);
            a20 = Vector512.FusedMultiplyAdd(v, b0, a20); a21 = Vector512.FusedMultiplyAdd(v, b1, a21);
            v = Vector512.Create(ap[3 * rs]);
            a30 = Vector512.FusedMultiplyAdd(v, b0, a30); a31 = Vector512.FusedMultiplyAdd(v, b1, a31);
            v = Vector512.Create(ap[4 * rs]);
            a40 = Vector512.FusedMultiplyAdd(v, b0, a40); a41 = Vector512.FusedMultiplyAdd(v, b1, a41);
            v = Vector512.Create(ap[5 * rs]);
            a50 = Vector512.FusedMultiplyAdd(v, b0, a50); a51 = Vector512.FusedMultiplyAdd(v, b1, a51);
        }
        a00.Store(c); a01.Store(c + 16); c += ldc;
        a10.Store(c); a11.Store(c + 16); c += ldc;
        a20.Store(c); a21.Store(c + 16); c += ldc;
        a30.Store(c); a31.Store(c + 16); c += ldc;
        a40.Store(c); a41.Store(c + 16); c += ldc;
        a50.Store(c); a51.Store(c + 16);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    internal static unsafe void Tile6x16(float* a, long rs, long cs, float* b, long ldb, float* c, long ldc, int k, bool accumulate, float* bias = null)
    {
        Vector512<float> a0, a1, a2, a3, a4, a5;
        if (accumulate)
        {
            a0 = Vector512.Load(c); a1 = Vector512.Load(c + ldc); a2 = Vector512.Load(c + 2 * ldc);
            a3 = Vector512.Load(c + 3 * ldc); a4 = Vector512.Load(c + 4 * ldc); a5 = Vector512.Load(c + 5 * ldc);
        }
        else a0 = a1 = a2 = a3 = a4 = a5 = bias is not null ? Vector512.Load(bias) : default;
        for (int p = 0; p < k; p++)
        {
            float* ap = a + p * cs;
            var bv = Vector512.Load(b + p * ldb);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[0]), bv, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[rs]), bv, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[2 * rs]), bv, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[3 * rs]), bv, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[4 * rs]), bv, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(ap[5 * rs]), bv, a5);
        }
        a0.Store(c); a1.Store(c + ldc); a2.Store(c + 2 * ldc); a3.Store(c + 3 * ldc); a4.Store(c + 4 * ldc); a5.Store(c + 5 * ldc);
    }

    /// <summary>One row of C, 16 columns (the M % 6 tail rows).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Row1x16(float* a, long cs, float* b, long ldb, float* c, int k, bool accumulate, float* bias = null)
    {
        var acc = accumulate ? Vector512.Load(c) : bias is not null ? Vector512.Load(bias) : default;
        for (int p = 0; p < k; p++) acc = Vector512.FusedMultiplyAdd(Vector512.Create(a[p * cs]), Vector512.Load(b + p * ldb), acc);
        acc.Store(c);
    }
}
