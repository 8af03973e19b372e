using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using VisionSsm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Float32 GEMMs for the token-sized projections of Vim/Mamba (M or L = 197…4097 tokens, K = 24…768, N = 56…1536).
/// Why: libtorch's statically linked MKL takes its AVX2 path on AMD CPUs (the Zen 5 here has two 512-bit FMA pipes),
/// so Vector512 kernels run these ~2× faster per core (`gemm` bench). Three entry points, each taking the C# kernel
/// when it applies (float32 CPU, AVX-512 — or AVX2 + FMA for the channel-major two —, no autograd needed) and
/// <see cref="KernelOptions.Choice"/> (measured per shape class by default, <see cref="KernelChooser"/>) prefers it,
/// and libtorch — its slow twin — otherwise:
/// <list type="bullet">
/// <item><see cref="Linear"/>: nn.Linear's layout, y (…, N) = x (…, K)·Wᵀ + b. Each output is a dot product of a row
/// of x and a row of W, both contiguous along K (6 × 4 register tile, shuffle-tree reduction).</item>
/// <item><see cref="MatMul"/>: channel-major, y (…, N, L) = W (N, K)·x (…, K, L), optionally grouped. W scalars are
/// broadcast against rows of x (<see cref="RowMajorGemm"/>'s 6 × 64 register tile), no reduction.</item>
/// <item><see cref="LinearChannelMajor"/>: Linear on channel-major x, token-major result (MatMul's tile, stored
/// transposed).</item>
/// </list>
/// Neither packs W nor caches anything, so nothing can go stale after in-place parameter updates. Each output is
/// computed by one thread with a fixed instruction sequence: results do not depend on the thread count.
/// </summary>
public static class Gemm
{
    const int Lanes = 16;       // Vector512<float>
    const int TileRows = 6;     // micro-tile: 6 rows of x × 4 rows of W = 24 accumulators (of 32 zmm registers)
    const int TileCols = 4;
    const int BlockCols = 64;   // W rows per cache block: 64·K floats (≤ 192 KB at K = 768) stay in L2 across all row tiles

    /// <summary>True when the Vector512 kernel can run on this CPU.</summary>
    public static bool KernelSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary><see cref="KernelOptions.Gemm"/>: false sends <see cref="Linear"/> and <see cref="MatMul"/> to libtorch.</summary>
    static bool Enabled => KernelOptions.Current.Gemm;

    /// <summary>
    /// y (..., N) = x (..., K) · weightᵀ + bias, weight (N, K), bias (N) or null — exactly
    /// <c>nn.functional.linear</c>'s contract. Uses the AVX-512 kernel when <see cref="Applies"/>, else libtorch.
    /// Non-contiguous x or weight are copied to contiguous first (their rows must be dense for the kernel).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        CheckShapes(x, weight, bias);
        return Applies(x, weight, bias)
            && KernelChooser.Process.PreferOurs(KernelOptions.Current.Choice,
                KernelChooser.Key("gemm.linear", "f32", TorchRuntime.KernelParallelism.MaxDegreeOfParallelism, x.numel() / Math.Max(1, x.shape[^1]), weight.shape[0], weight.shape[1]),
                () => LinearKernel(x, weight, bias).Dispose(), () => LinearReference(x, weight, bias).Dispose())
            ? LinearKernel(x, weight, bias) : LinearReference(x, weight, bias);
    }

    /// <summary>The slow twin: libtorch's own linear (MKL).</summary>
    public static Tensor LinearReference(Tensor x, Tensor weight, Tensor? bias = null) => nn.functional.linear(x, weight, bias);

    /// <summary>Below this K the per-output reduction outweighs the dot product and MKL is faster (`gemm` bench: K = 24 0.7×).</summary>
    public const int MinK = 32;

    /// <summary>
    /// True when <see cref="Linear"/> takes the C# kernel: <see cref="KernelOptions.Gemm"/> on, all tensors float32 on the CPU, the kernel supported,
    /// K ≥ <see cref="MinK"/>, and no gradient needed (the kernel has no backward; with autograd on and any input
    /// requiring grad libtorch runs).
    /// </summary>
    public static bool Applies(Tensor x, Tensor weight, Tensor? bias)
    {
        if (!Enabled || !KernelSupported || weight.dim() != 2 || weight.shape[1] < MinK) return false;
        if (x.device_type != DeviceType.CPU || weight.device_type != DeviceType.CPU || (bias is not null && bias.device_type != DeviceType.CPU)) return false;
        if (x.dtype != ScalarType.Float32 || weight.dtype != ScalarType.Float32 || (bias is not null && bias.dtype != ScalarType.Float32)) return false;
        if (is_grad_enabled() && (x.requires_grad || weight.requires_grad || (bias?.requires_grad ?? false))) return false;
        return true;
    }

    static void CheckShapes(Tensor x, Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckWeightAndBias(weight, bias);
        if (x.dim() < 1 || x.shape[^1] != weight.shape[1])
            throw new ArgumentException($"x must be (..., K = {weight.shape[1]}) to match weight {ScanArguments.Fmt(weight.shape)}; got {ScanArguments.Fmt(x.shape)}.", nameof(x));
    }

    /// <summary>nn.Linear's parameter contract: weight (N, K), bias (N) or null.</summary>
    static void CheckWeightAndBias(Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2)
            throw new ArgumentException($"weight must be (N, K); got {ScanArguments.Fmt(weight.shape)}.", nameof(weight));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException($"bias must be (N = {weight.shape[0]}); got {ScanArguments.Fmt(bias.shape)}.", nameof(bias));
    }

    /// <summary>The kernel without the dispatch (tests and benchmarks call it directly; no autograd), split over
    /// <see cref="TorchRuntime.KernelParallelism"/> or, when given, <paramref name="parallelism"/>.</summary>
    internal static Tensor LinearKernel(Tensor x, Tensor weight, Tensor? bias, ParallelOptions? parallelism = null)
    {
        CheckShapes(x, weight, bias);
        if (!KernelSupported) throw new PlatformNotSupportedException("Gemm.LinearKernel needs AVX-512 (Vector512).");
        long k = weight.shape[1], n = weight.shape[0];
        var outShape = x.shape.ToArray();
        long m = outShape[..^1].Aggregate(1L, (a, b) => a * b);
        outShape[^1] = n;
        var y = empty(outShape, dtype: ScalarType.Float32);
        if (m == 0 || n == 0) return y;
        if (k == 0) return bias is null ? y.zero_() : y.copy_(bias.expand(outShape));
        using (NewDisposeScope())
        {
            var xc = x.is_contiguous() ? x : x.contiguous();
            var wc = weight.is_contiguous() ? weight : weight.contiguous();
            var bc = bias is null || bias.is_contiguous() ? bias : bias.contiguous();
            unsafe
            {
                Run(SelectiveScanCpu.Ptr<float>(xc), SelectiveScanCpu.Ptr<float>(wc), bc is null ? null : SelectiveScanCpu.Ptr<float>(bc),
                    SelectiveScanCpu.Ptr<float>(y), m, n, (int)k, parallelism ?? TorchRuntime.KernelParallelism);
            }
            GC.KeepAlive(xc); GC.KeepAlive(wc); GC.KeepAlive(bc);
        }
        return y;
    }

    /// <summary>Splits the output over <see cref="TorchRuntime.KernelParallelism"/>: by column tiles (each thread reads only
    /// its share of W) when there are enough, else by row tiles.</summary>
    static unsafe void Run(float* x, float* w, float* bias, float* y, long m, long n, int k, ParallelOptions parallelism)
    {
        int threads = Math.Max(1, parallelism.MaxDegreeOfParallelism);
        long work = m * n * k;
        if (threads == 1 || work < 1 << 18) { Range(x, w, bias, y, n, k, 0, m, 0, n); return; }
        long colTiles = (n + TileCols - 1) / TileCols, rowTiles = (m + TileRows - 1) / TileRows;
        bool byCols = colTiles >= 4 * threads || colTiles >= rowTiles;
        long units = byCols ? colTiles : rowTiles;
        int parts = (int)Math.Min(threads, units);
        nint xp = (nint)x, wp = (nint)w, bp = (nint)bias, yp = (nint)y;
        OpenMpTeam.For(0, parts, parallelism, p =>
        {
            long u0 = units * p / parts, u1 = units * (p + 1) / parts;
            if (byCols) Range((float*)xp, (float*)wp, (float*)bp, (float*)yp, n, k, 0, m, Math.Min(n, u0 * TileCols), Math.Min(n, u1 * TileCols));
            else Range((float*)xp, (float*)wp, (float*)bp, (float*)yp, n, k, Math.Min(m, u0 * TileRows), Math.Min(m, u1 * TileRows), 0, n);
        });
    }

    /// <summary>Rows [r0, r1) × columns [c0, c1) of y: blocks of <see cref="BlockCols"/> W rows, inside each all row tiles.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static unsafe void Range(float* x, float* w, float* bias, float* y, long n, int k, long r0, long r1, long c0, long c1)
    {
        for (long cb = c0; cb < c1; cb += BlockCols)
        {
            long ce = Math.Min(c1, cb + BlockCols);
            long fullCols = cb + (ce - cb) / TileCols * TileCols;
            long r = r0;
            for (; r + TileRows <= r1; r += TileRows)
            {
                for (long c = cb; c < fullCols; c += TileCols)
                    Tile6x4(x + r * k, w + c * k, bias is null ? null : bias + c, y + r * n + c, k, n);
                for (long c = fullCols; c < ce; c++)
                    for (long i = r; i < r + TileRows; i++) Dot(x + i * k, w + c * k, bias is null ? null : bias + c, y + i * n + c, k);
            }
            for (; r < r1; r++)
            {
                for (long c = cb; c < fullCols; c += TileCols)
                    Row1x4(x + r * k, w + c * k, bias is null ? null : bias + c, y + r * n + c, k);
                for (long c = fullCols; c < ce; c++)
                    Dot(x + r * k, w + c * k, bias is null ? null : bias + c, y + r * n + c, k);
            }
        }
    }

    /// <summary>
    /// 6 rows of x × 4 rows of W: 24 Vector512 accumulators of partial dot products along K, then a shuffle tree
    /// (<see cref="Pair"/>, <see cref="Quad"/>, <see cref="Rows4"/>) that turns each 4 × 4 group into one vector holding
    /// 4 rows × 4 outputs. K tail: one half-width step (8) then scalars.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Tile6x4(float* x, float* w, float* bias, float* y, int k, long ldy)
    {
        float* x0 = x, x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k, x4 = x + 4 * k, x5 = x + 5 * k;
        float* w0 = w, w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        int j = 0;
        for (; j + Lanes <= k; j += Lanes)
        {
            var b0 = Vector512.Load(w0 + j); var b1 = Vector512.Load(w1 + j); var b2 = Vector512.Load(w2 + j); var b3 = Vector512.Load(w3 + j);
            var v = Vector512.Load(x0 + j);
            a00 = Vector512.FusedMultiplyAdd(v, b0, a00); a01 = Vector512.FusedMultiplyAdd(v, b1, a01); a02 = Vector512.FusedMultiplyAdd(v, b2, a02); a03 = Vector512.FusedMultiplyAdd(v, b3, a03);
            v = Vector512.Load(x1 + j);
            a10 = Vector512.FusedMultiplyAdd(v, b0, a10); a11 = Vector512.FusedMultiplyAdd(v, b1, a11); a12 = Vector512.FusedMultiplyAdd(v, b2, a12); a13 = Vector512.FusedMultiplyAdd(v, b3, a13);
            v = Vector512.Load(x2 + j);
            a20 = Vector512.FusedMultiplyAdd(v, b0, a20); a21 = Vector512.FusedMultiplyAdd(v, b1, a21); a22 = Vector512.FusedMultiplyAdd(v, b2, a22); a23 = Vector512.FusedMultiplyAdd(v, b3, a23);
            v = Vector512.Load(x3 + j);
            a30 = Vector512.FusedMultiplyAdd(v, b0, a30); a31 = Vector512.FusedMultiplyAdd(v, b1, a31); a32 = Vector512.FusedMultiplyAdd(v, b2, a32); a33 = Vector512.FusedMultiplyAdd(v, b3, a33);
            v = Vector512.Load(x4 + j);
            a40 = Vector512.FusedMultiplyAdd(v, b0, a40); a41 = Vector512.FusedMultiplyAdd(v, b1, a41); a42 = Vector512.FusedMultiplyAdd(v, b2, a42); a43 = Vector512.FusedMultiplyAdd(v, b3, a43);
            v = Vector512.Load(x5 + j);
            a50 = Vector512.FusedMultiplyAdd(v, b0, a50); a51 = Vector512.FusedMultiplyAdd(v, b1, a51); a52 = Vector512.FusedMultiplyAdd(v, b2, a52); a53 = Vector512.FusedMultiplyAdd(v, b3, a53);
        }
        if (j + Lanes / 2 <= k)
        {
            // Half step: the upper 8 lanes load as zeros, so they add nothing.
            var b0 = Vector256.Load(w0 + j).ToVector512(); var b1 = Vector256.Load(w1 + j).ToVector512();
            var b2 = Vector256.Load(w2 + j).ToVector512(); var b3 = Vector256.Load(w3 + j).ToVector512();
            var v = Vector256.Load(x0 + j).ToVector512();
            a00 = Vector512.FusedMultiplyAdd(v, b0, a00); a01 = Vector512.FusedMultiplyAdd(v, b1, a01); a02 = Vector512.FusedMultiplyAdd(v, b2, a02); a03 = Vector512.FusedMultiplyAdd(v, b3, a03);
            v = Vector256.Load(x1 + j).ToVector512();
            a10 = Vector512.FusedMultiplyAdd(v, b0, a10); a11 = Vector512.FusedMultiplyAdd(v, b1, a11); a12 = Vector512.FusedMultiplyAdd(v, b2, a12); a13 = Vector512.FusedMultiplyAdd(v, b3, a13);
            v = Vector256.Load(x2 + j).ToVector512();
            a20 = Vector512.FusedMultiplyAdd(v, b0, a20); a21 = Vector512.FusedMultiplyAdd(v, b1, a21); a22 = Vector512.FusedMultiplyAdd(v, b2, a22); a23 = Vector512.FusedMultiplyAdd(v, b3, a23);
            v = Vector256.Load(x3 + j).ToVector512();
            a30 = Vector512.FusedMultiplyAdd(v, b0, a30); a31 = Vector512.FusedMultiplyAdd(v, b1, a31); a32 = Vector512.FusedMultiplyAdd(v, b2, a32); a33 = Vector512.FusedMultiplyAdd(v, b3, a33);
            v = Vector256.Load(x4 + j).ToVector512();
            a40 = Vector512.FusedMultiplyAdd(v, b0, a40); a41 = Vector512.FusedMultiplyAdd(v, b1, a41); a42 = Vector512.FusedMultiplyAdd(v, b2, a42); a43 = Vector512.FusedMultiplyAdd(v, b3, a43);
            v = Vector256.Load(x5 + j).ToVector512();
            a50 = Vector512.FusedMultiplyAdd(v, b0, a50); a51 = Vector512.FusedMultiplyAdd(v, b1, a51); a52 = Vector512.FusedMultiplyAdd(v, b2, a52); a53 = Vector512.FusedMultiplyAdd(v, b3, a53);
            j += Lanes / 2;
        }
        // Rows 0-3: 128-bit lane i of `top` = row i's outputs for W rows 0..3; rows 4-5 in lanes 0, 1 of `bottom`.
        var top = Rows4(Quad(Pair(a00, a10), Pair(a20, a30)), Quad(Pair(a01, a11), Pair(a21, a31)),
                        Quad(Pair(a02, a12), Pair(a22, a32)), Quad(Pair(a03, a13), Pair(a23, a33)));
        var p0 = Pair(a40, a50); var p1 = Pair(a41, a51); var p2 = Pair(a42, a52); var p3 = Pair(a43, a53);
        var bottom = Rows4(Quad(p0, p0), Quad(p1, p1), Quad(p2, p2), Quad(p3, p3));
        if (bias is not null)
        {
            var bv = Vector512.Create(Vector128.Load(bias));
            top += bv; bottom += bv;
        }
        Store(top.GetLower().GetLower(), y, x0, w, j, k);
        Store(top.GetLower().GetUpper(), y + ldy, x1, w, j, k);
        Store(top.GetUpper().GetLower(), y + 2 * ldy, x2, w, j, k);
        Store(top.GetUpper().GetUpper(), y + 3 * ldy, x3, w, j, k);
        Store(bottom.GetLower().GetLower(), y + 4 * ldy, x4, w, j, k);
        Store(bottom.GetLower().GetUpper(), y + 5 * ldy, x5, w, j, k);
    }

    /// <summary>Stores one row's 4 outputs, adding the scalar K tail [j, k) of the 4 dot products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Store(Vector128<float> v, float* y, float* xRow, float* w, int j, int k)
    {
        v.Store(y);
        for (int t = j; t < k; t++)
        {
            float xv = xRow[t];
            y[0] += xv * w[t]; y[1] += xv * w[k + t]; y[2] += xv * w[2 * k + t]; y[3] += xv * w[3 * k + t];
        }
    }

    /// <summary>[a₀+a₂, a₁+a₃, b₀+b₂, b₁+b₃] over 128-bit lanes: 128-bit lanes 0-1 carry a's partial sums, 2-3 b's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Pair(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);

    /// <summary>From Pair(a, b) and Pair(c, d): 128-bit lane i holds 4 partial sums of a, b, c, d respectively.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Quad(Vector512<float> p, Vector512<float> q) =>
        Avx512F.Shuffle4x128(p, q, 0x88) + Avx512F.Shuffle4x128(p, q, 0xDD);

    /// <summary>
    /// From 4 Quad vectors (one per W row c, lane i = row i's 4 partials for c): lane i becomes row i's 4 finished
    /// dot products [c0, c1, c2, c3].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Rows4(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        var t0 = Avx512F.UnpackLow(v0, v1) + Avx512F.UnpackHigh(v0, v1);   // [a0+a2, b0+b2, a1+a3, b1+b3] per lane
        var t1 = Avx512F.UnpackLow(v2, v3) + Avx512F.UnpackHigh(v2, v3);
        return Avx512F.Shuffle(t0, t1, 0x44) + Avx512F.Shuffle(t0, t1, 0xEE);
    }

    /// <summary>One row of x × 4 rows of W (row tail of a block).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Row1x4(float* x, float* w, float* bias, float* y, int k)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = 0;
        for (; j + Lanes <= k; j += Lanes)
        {
            var v = Vector512.Load(x + j);
            a0 = Vector512.FusedMultiplyAdd(v, Vector512.Load(w + j), a0);
            a1 = Vector512.FusedMultiplyAdd(v, Vector512.Load(w + k + j), a1);
            a2 = Vector512.FusedMultiplyAdd(v, Vector512.Load(w + 2 * k + j), a2);
            a3 = Vector512.FusedMultiplyAdd(v, Vector512.Load(w + 3 * k + j), a3);
        }
        var p0 = Pair(a0, a0); var p1 = Pair(a1, a1); var p2 = Pair(a2, a2); var p3 = Pair(a3, a3);
        var r = Rows4(Quad(p0, p0), Quad(p1, p1), Quad(p2, p2), Quad(p3, p3)).GetLower().GetLower();
        if (bias is not null) r += Vector128.Load(bias);
        Store(r, y, x, w, j, k);
    }

    /// <summary>One output: a single dot product (column tail, N % 4).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Dot(float* x, float* w, float* bias, float* y, int k)
    {
        var acc = Vector512<float>.Zero;
        int j = 0;
        for (; j + Lanes <= k; j += Lanes) acc = Vector512.FusedMultiplyAdd(Vector512.Load(x + j), Vector512.Load(w + j), acc);
        float s = Vector512.Sum(acc);
        for (; j < k; j++) s += x[j] * w[j];
        *y = bias is null ? s : s + *bias;
    }

    // ---- Channel-major form: y (…, N, L) = W (N, K) · x (…, K, L), as a 1×1 projection of channel-major activations ----

    const int MatTileRows = 6;      // 6 rows of W (broadcast scalars) × 4 vectors (64 columns of x) = 24 accumulators
    const int MatTileCols = 4 * Lanes;

    /// <summary>
    /// y (…, N, L) = weight · x with weight (N, K) or per group (G, N, K) against x (…, G, K, L): <c>torch.matmul</c>'s
    /// result for these shapes. This is the layout of Mamba's x_proj / dt_proj on channel-major activations (u (B, D, L)).
    /// Uses the AVX-512 kernel when <see cref="MatMulApplies"/>, else <c>torch.matmul</c> (<see cref="MatMulReference"/>).
    /// x may be a view whose rows are dense (e.g. a <c>narrow</c> along K); other layouts are copied.
    /// </summary>
    public static Tensor MatMul(Tensor weight, Tensor x)
    {
        CheckMatMulShapes(weight, x);
        return MatMulApplies(weight, x) && PreferOurs("gemm.matmul", weight, x, () => MatMulKernel(weight, x).Dispose(), () => MatMulReference(weight, x).Dispose())
            ? MatMulKernel(weight, x) : MatMulReference(weight, x);
    }

    /// <summary>True when the channel-major kernels (<see cref="MatMul"/>, <see cref="LinearChannelMajor"/>) can run on this
    /// CPU: AVX-512, or AVX2 + FMA (256-bit tiles).</summary>
    public static bool MatMulSupported => RowMajorGemm.KernelSupported;

    /// <summary><see cref="KernelOptions.Choice"/> for a channel-major product W (…, N, K) · x (…, K, L), keyed by its shape class.</summary>
    static bool PreferOurs(string op, Tensor weight, Tensor x, Action ours, Action libtorch)
    {
        long batches = x.numel() / Math.Max(1, x.shape[^2] * x.shape[^1]);
        var key = KernelChooser.Key(op, "f32", TorchRuntime.KernelParallelism.MaxDegreeOfParallelism, batches, weight.shape[^2], weight.shape[^1], x.shape[^1]);
        return KernelChooser.Process.PreferOurs(KernelOptions.Current.Choice, key, ours, libtorch);
    }

    /// <summary>The slow twin: libtorch's matmul.</summary>
    public static Tensor MatMulReference(Tensor weight, Tensor x) => matmul(weight, x);

    /// <summary>As <see cref="Applies"/> for <see cref="MatMul"/>: CPU, float32, AVX-512 or AVX2 + FMA, no gradient needed (any K).</summary>
    public static bool MatMulApplies(Tensor weight, Tensor x)
    {
        if (!Enabled || !MatMulSupported || x.device_type != DeviceType.CPU || weight.device_type != DeviceType.CPU) return false;
        if (x.dtype != ScalarType.Float32 || weight.dtype != ScalarType.Float32) return false;
        return !(is_grad_enabled() && (x.requires_grad || weight.requires_grad));
    }

    static void CheckMatMulShapes(Tensor weight, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(x);
        if (weight.dim() is not (2 or 3))
            throw new ArgumentException($"weight must be (N, K) or (G, N, K); got {ScanArguments.Fmt(weight.shape)}.", nameof(weight));
        long k = weight.shape[^1];
        bool grouped = weight.dim() == 3;
        if (x.dim() < (grouped ? 3 : 2) || x.shape[^2] != k || (grouped && x.shape[^3] != weight.shape[0]))
            throw new ArgumentException(
                $"x must be ({(grouped ? $"…, G = {weight.shape[0]}, " : "…, ")}K = {k}, L) to match weight {ScanArguments.Fmt(weight.shape)}; got {ScanArguments.Fmt(x.shape)}.",
                nameof(x));
    }

    /// <summary>The channel-major kernel without the dispatch (tests and benchmarks; no autograd).</summary>
    internal static Tensor MatMulKernel(Tensor weight, Tensor x, ParallelOptions? parallelism = null, bool? wide = null)
    {
        CheckMatMulShapes(weight, x);
        return ChannelMajorKernel(weight, x, null, transposedOut: false, parallelism, wide);
    }

    /// <summary>
    /// W·x over channel-major x (…, K, L): (…, N, L), or with <paramref name="transposedOut"/> token-major
    /// (…, L, N) + bias, i.e. linear(xᵀ, W, bias) without materialising xᵀ.
    /// </summary>
    static Tensor ChannelMajorKernel(Tensor weight, Tensor x, Tensor? bias, bool transposedOut, ParallelOptions? parallelism, bool? wide = null)
    {
        if (!MatMulSupported) throw new PlatformNotSupportedException("Gemm.MatMul needs AVX-512 or AVX2 + FMA for its C# kernels.");
        if (wide == true && !KernelSupported) throw new PlatformNotSupportedException("the 512-bit tiles need AVX-512.");
        bool grouped = weight.dim() == 3;
        long groups = grouped ? weight.shape[0] : 1, n = weight.shape[^2], k = weight.shape[^1], l = x.shape[^1];
        var outShape = x.shape.ToArray();
        if (transposedOut) { outShape[^2] = l; outShape[^1] = n; }
        else outShape[^2] = n;
        var y = empty(outShape, dtype: ScalarType.Float32);
        long batches = outShape[..^2].Aggregate(1L, (a, b) => a * b);
        if (batches == 0 || n == 0 || l == 0) return y;
        if (k == 0) return bias is null || !transposedOut ? y.zero_() : y.copy_(bias.expand(outShape));
        using (NewDisposeScope())
        {
            var wc = weight.is_contiguous() ? weight : weight.contiguous();
            var bc = bias is null || bias.is_contiguous() ? bias : bias.contiguous();
            // (batches, K, L) with dense rows; reshape is a view when the leading dims merge (e.g. a narrow along K).
            var x3 = x.reshape(batches, k, l);
            if (x3.stride(2) != 1 || (k > 1 && x3.stride(1) < l)) x3 = x3.contiguous();
            unsafe
            {
                var job = new MatMulJob
                {
                    W = SelectiveScanCpu.Ptr<float>(wc), X = XPtr(x3), Y = SelectiveScanCpu.Ptr<float>(y),
                    Groups = groups, N = (int)n, K = (int)k, L = (int)l,
                    XBatch = x3.stride(0), XRow = x3.stride(1),
                    Bias = bc is null ? null : SelectiveScanCpu.Ptr<float>(bc), TransposedOut = transposedOut,
                    Wide = wide ?? RowMajorGemm.Wide,
                };
                // Column blocks when x is too big for L2 (x K × L streamed once per row tile otherwise) and there are
                // enough blocks to share; else row tiles (all of x stays in L2).
                long rowTiles = (n + MatTileRows - 1) / MatTileRows;
                var options = parallelism ?? TorchRuntime.KernelParallelism;
                int threads = Math.Max(1, options.MaxDegreeOfParallelism);
                bool byColumns = k * l * sizeof(float) > 512 * 1024 && batches * job.ColBlocks >= 4 * threads;
                long units = batches * (byColumns ? job.ColBlocks : rowTiles);
                int parts = (int)Math.Min(threads, units);
                if (parts == 1 || batches * n * k * l < 1 << 18) job.Run(0, units, byColumns);
                else OpenMpTeam.For(0, parts, options, p => job.Run(units * p / parts, units * (p + 1) / parts, byColumns));
            }
            GC.KeepAlive(wc); GC.KeepAlive(x3); GC.KeepAlive(bc);
        }
        return y;
    }

    /// <summary>
    /// y (…, L, N) = linear(xT.transpose(-1, -2), weight, bias) for channel-major xT (…, K, L), weight (N, K), bias (N)
    /// or null: a Linear layer applied to channel-major activations (e.g. Vim's out_proj on the merged scan output
    /// (B, Di, L)) without a transposed copy. The AVX-512 kernel when <see cref="MatMulApplies"/> (and the bias, if any,
    /// is float32 CPU without grad), else libtorch (<see cref="LinearChannelMajorReference"/>).
    /// </summary>
    public static Tensor LinearChannelMajor(Tensor xT, Tensor weight, Tensor? bias = null)
    {
        CheckLinearChannelMajorShapes(xT, weight, bias);
        bool biasOk = bias is null || (bias.device_type == DeviceType.CPU && bias.dtype == ScalarType.Float32 && !(is_grad_enabled() && bias.requires_grad));
        return biasOk && MatMulApplies(weight, xT)
            && PreferOurs("gemm.linear_cm", weight, xT, () => ChannelMajorKernel(weight, xT, bias, transposedOut: true, null).Dispose(),
                () => LinearChannelMajorReference(xT, weight, bias).Dispose())
            ? ChannelMajorKernel(weight, xT, bias, transposedOut: true, null) : LinearChannelMajorReference(xT, weight, bias);
    }

    /// <summary>The slow twin of <see cref="LinearChannelMajor"/>: libtorch's linear on the transposed view.</summary>
    public static Tensor LinearChannelMajorReference(Tensor xT, Tensor weight, Tensor? bias = null) =>
        nn.functional.linear(xT.transpose(-1, -2), weight, bias);

    /// <summary><see cref="LinearChannelMajor"/>'s kernel without the dispatch (tests; no autograd).</summary>
    internal static Tensor LinearChannelMajorKernel(Tensor xT, Tensor weight, Tensor? bias, ParallelOptions? parallelism = null, bool? wide = null)
    {
        CheckLinearChannelMajorShapes(xT, weight, bias);
        return ChannelMajorKernel(weight, xT, bias, transposedOut: true, parallelism, wide);
    }

    static void CheckLinearChannelMajorShapes(Tensor xT, Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(xT);
        CheckWeightAndBias(weight, bias);
        if (xT.dim() < 2 || xT.shape[^2] != weight.shape[1])
            throw new ArgumentException($"xT must be channel-major (..., K = {weight.shape[1]}, L) to match weight {ScanArguments.Fmt(weight.shape)}; got {ScanArguments.Fmt(xT.shape)}.", nameof(xT));
    }

    /// <summary>Data pointer of a CPU float tensor that may be a strided view (libtorch's data_ptr: storage offset applied;
    /// TorchSharp's <c>bytes</c> refuses non-contiguous tensors).</summary>
    static unsafe float* XPtr(Tensor t) => (float*)THSTensor_data(t.Handle);

    [System.Runtime.InteropServices.DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    unsafe struct MatMulJob
    {
        public float* W, X, Y, Bias;
        public long Groups, XBatch, XRow;
        public int N, K, L;
        public bool TransposedOut;   // y (batch, L, N) + bias instead of (batch, N, L)
        public bool Wide;            // 512-bit tiles (AVX-512); else the 256-bit ones (AVX2 + FMA)

        /// <summary>Column blocks of one batch item: 64 wide, the last one 64-127 wide (so the overlapping 16-column tail
        /// stays inside it). With x (K × L) larger than L2, a block of x (K × 64) is kept hot while all W rows pass.</summary>
        public readonly long ColBlocks => Math.Max(1, L / MatTileCols);

        /// <summary>
        /// Work units [u0, u1). By rows: unit = (batch, tile of 6 W rows) over all L columns; by columns: unit =
        /// (batch, column block) over all W rows.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(long u0, long u1, bool byColumns)
        {
            long rowTiles = (N + MatTileRows - 1) / MatTileRows, colBlocks = ColBlocks;
            // Scratch: a 6 × L output block (token-major output goes through it, transposed on the way out, and so does a
            // partial row tile) and 6 zero-padded W rows (a partial row tile runs the full 6-row kernel).
            float* scratch = (float*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)(MatTileRows * ((long)L + K) * sizeof(float)));
            float* padW = scratch + MatTileRows * L;
            try
            {
                for (long u = u0; u < u1; u++)
                {
                    if (!byColumns) { Unit(u / rowTiles, (int)(u % rowTiles), 0, L, scratch, padW); continue; }
                    long b = u / colBlocks, cb = u % colBlocks;
                    int c0 = (int)cb * MatTileCols, c1 = cb == colBlocks - 1 ? L : c0 + MatTileCols;
                    for (int rt = 0; rt < rowTiles; rt++) Unit(b, rt, c0, c1, scratch, padW);
                }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.Free(scratch);
            }
        }

        /// <summary>Row tile <paramref name="rowTile"/> (6 or fewer W rows) of batch item b over columns [c0, c1).</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        readonly void Unit(long b, int rowTile, int c0, int c1, float* scratch, float* padW)
        {
            int r0 = rowTile * MatTileRows, rows = Math.Min(MatTileRows, N - r0);
            float* w = W + (b % Groups) * N * K + (long)r0 * K;
            if (rows < MatTileRows)
            {
                // Partial row tile: the missing W rows are zeros; their outputs land in scratch and are dropped.
                new ReadOnlySpan<float>(w, rows * K).CopyTo(new Span<float>(padW, rows * K));
                new Span<float>(padW + rows * K, (MatTileRows - rows) * K).Clear();
                w = padW;
            }
            bool viaScratch = TransposedOut || rows < MatTileRows;
            float* x = X + b * XBatch;
            float* y = viaScratch ? scratch : Y + (b * N + r0) * L;
            int c = c0;
            if (Wide)
            {
                for (; c + MatTileCols <= c1; c += MatTileCols) RowMajorGemm.Tile6x64(w, K, 1, x + c, XRow, y + c, L, K, accumulate: false);
                for (; c + Lanes <= c1; c += Lanes) RowMajorGemm.Tile6x16(w, K, 1, x + c, XRow, y + c, L, K, accumulate: false);
                // Column tail: one more 16-column tile ending at c1. The overlapped columns are recomputed with the same
                // instructions, so they get bitwise the same values.
                if (c < c1 && c1 - c0 >= Lanes) RowMajorGemm.Tile6x16(w, K, 1, x + c1 - Lanes, XRow, y + c1 - Lanes, L, K, accumulate: false);
                else for (int r = 0; r < MatTileRows; r++) Scalar(w + r * K, K, x, XRow, y + r * L, c, c1);
            }
            else
            {
                // The 256-bit tiles (AVX2 + FMA): 16 then 8 columns, the same overlapping tail with an 8-column tile.
                const int L8 = RowMajorGemmAvx2.Lanes;
                for (; c + 2 * L8 <= c1; c += 2 * L8) RowMajorGemmAvx2.Tile6x16(w, K, 1, x + c, XRow, y + c, L, K, accumulate: false);
                for (; c + L8 <= c1; c += L8) RowMajorGemmAvx2.Tile6x8(w, K, 1, x + c, XRow, y + c, L, K, accumulate: false);
                if (c < c1 && c1 - c0 >= L8) RowMajorGemmAvx2.Tile6x8(w, K, 1, x + c1 - L8, XRow, y + c1 - L8, L, K, accumulate: false);
                else for (int r = 0; r < MatTileRows; r++) Scalar(w + r * K, K, x, XRow, y + r * L, c, c1);
            }
            if (!viaScratch) return;
            if (!TransposedOut)
            {
                for (int r = 0; r < rows; r++)
                    new ReadOnlySpan<float>(scratch + r * L + c0, c1 - c0).CopyTo(new Span<float>(Y + (b * N + r0 + r) * L + c0, c1 - c0));
                return;
            }
            float* yt = Y + b * L * N + r0;
            for (int t = c0; t < c1; t++)
                for (int r = 0; r < rows; r++) yt[(long)t * N + r] = scratch[r * L + t] + (Bias == null ? 0f : Bias[r0 + r]);
        }

        /// <summary>Columns [c0, c1) of one output row, one at a time (only when L &lt; 16).</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        static void Scalar(float* w, int k, float* x, long ldx, float* y, int c0, int c1)
        {
            for (int c = c0; c < c1; c++)
            {
                float s = 0;
                for (int j = 0; j < k; j++) s = MathF.FusedMultiplyAdd(w[j], x[j * ldx + c], s);
                y[c] = s;
            }
        }
    }
}
