using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Softmax over the last dimension, in place, for the attention logits of the BoTNet MHSA layer: per row,
/// max, then e^(x − max) with its sum, then the scale by 1/sum, in 16-lane vectors with
/// <see cref="FastMath.Exp2F(Vector512{float})"/> on AVX-512, 8-lane ones on AVX2 + FMA.
/// libtorch's softmax took 0.14–0.17 ms for vGamba-B's 392 × 784 side-28 row blocks on one thread (`vgamba-mhsa`);
/// this pass is several times faster. Optionally adds BoTNet's relative-position logits first (the factorised form
/// of Layers/BotMhsa2d): row i gets pos[i / side] + pos[side + i % side], read in the max pass.
/// Float32 CPU tensors with dense rows and no autograd; anything else goes to <see cref="Reference"/> (libtorch's
/// softmax, the twin).
/// </summary>
public static class RowSoftmax
{
    /// <summary>True when the kernel runs for <paramref name="x"/>.</summary>
    public static bool Supports(Tensor x) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.dim() >= 1 && x.is_contiguous()
        && KernelSupported && !(is_grad_enabled() && x.requires_grad);

    /// <summary>The CPU has one of the kernel's two widths: AVX-512, or AVX2 + FMA.</summary>
    public static bool KernelSupported => Vector512.IsHardwareAccelerated || (Avx2.IsSupported && Fma.IsSupported);

    /// <summary>softmax(x, −1) written over x (returned); the twin's result (a new tensor) when the kernel does not apply.</summary>
    public static Tensor ApplyInPlace(Tensor x) => ApplyInPlace(x, null, 0, 0, null);

    /// <summary>
    /// softmax(x + bias, −1) written over x (returned), with BoTNet's 2-D position logits as bias: x (…, n, cols) holds
    /// rows <paramref name="firstRow"/> … of each (…) slice's logits, pos (…, 2·side, cols) the matching slice's
    /// per-row-of-the-image terms (rows 0..side−1) and per-column terms (rows side..2·side−1), and row i gets
    /// pos[i / side] + pos[side + i % side]. The twin's result (a new tensor) when the kernel does not apply.
    /// </summary>
    public static Tensor ApplyInPlace(Tensor x, Tensor pos, int side, long firstRow = 0) => ApplyInPlace(x, pos, side, firstRow, null);

    /// <summary>With <paramref name="wide"/> forcing the 512-bit (true) or 256-bit (false) rows, so tests reach both.</summary>
    internal static Tensor ApplyInPlace(Tensor x, Tensor? pos, int side, long firstRow, bool? wide)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (pos is not null) CheckPositions(x, pos, side, firstRow);
        if (!Supports(x) || (pos is not null && !PositionsSupported(pos))) return Reference(x, pos, side, firstRow);
        if (wide == true && !Vector512.IsHardwareAccelerated) throw new PlatformNotSupportedException("the 512-bit rows need AVX-512.");
        if (wide == false && !(Avx2.IsSupported && Fma.IsSupported)) throw new PlatformNotSupportedException("the 256-bit rows need AVX2 + FMA.");
        bool w = wide ?? Vector512.IsHardwareAccelerated;
        long cols = x.shape[^1], rows = cols == 0 ? 0 : x.numel() / cols;
        if (rows == 0) return x;
        long n = pos is null ? rows : x.shape[^2];
        unsafe
        {
            nint data = (nint)SelectiveScanCpu.Ptr<float>(x), p = pos is null ? 0 : (nint)SelectiveScanCpu.Ptr<float>(pos);
            // Work items of ≥ 64K elements keep the per-item overhead small at side 14/7 (a head's whole logits).
            long per = Math.Max(1, (1L << 16) / cols), items = (rows + per - 1) / per;
            OpenMpTeam.For(0L, items, TorchRuntime.KernelParallelism, item =>
            {
                for (long r = item * per, end = Math.Min(rows, r + per); r < end; r++)
                {
                    float* row = (float*)data + r * cols, first = null, second = null;
                    if (p != 0)
                    {
                        long slice = r / n, i = firstRow + r % n;
                        float* ps = (float*)p + slice * 2 * side * cols;
                        first = ps + i / side * cols;
                        second = ps + (side + i % side) * cols;
                    }
                    if (w) Row512(row, first, second, (int)cols);
                    else Row256(row, first, second, (int)cols);
                }
            });
            GC.KeepAlive(pos);
        }
        return x;
    }

    /// <summary>The twin: libtorch's softmax over the last dimension (a new tensor).</summary>
    public static Tensor Reference(Tensor x) => nn.functional.softmax(x, -1);

    /// <summary>The twin of the position-biased form: the bias rows gathered with index_select, added, then libtorch's softmax.</summary>
    public static Tensor Reference(Tensor x, Tensor? pos, int side, long firstRow = 0)
    {
        if (pos is null) return Reference(x);
        CheckPositions(x, pos, side, firstRow);
        using var scope = NewDisposeScope();
        var i = arange(firstRow, firstRow + x.shape[^2], dtype: ScalarType.Int64, device: x.device);
        var bias = pos.index_select(-2, i.div(side, rounding_mode: RoundingMode.floor)) + pos.index_select(-2, i.remainder(side) + side);
        return nn.functional.softmax(x + bias, -1).MoveToOuterDisposeScope();
    }

    static void CheckPositions(Tensor x, Tensor pos, int side, long firstRow)
    {
        if (side < 1) throw new ArgumentOutOfRangeException(nameof(side), side, "expected ≥ 1");
        if (x.dim() < 2 || pos.dim() != x.dim() || pos.shape[^2] != 2L * side || pos.shape[^1] != x.shape[^1]
            || !pos.shape[..^2].SequenceEqual(x.shape[..^2]))
            throw new ArgumentException($"pos must be (…, 2·side = {2L * side}, {(x.dim() >= 1 ? x.shape[^1] : 0)}) with the leading sizes of x " +
                $"{ScanArguments.Fmt(x.shape)}; got {ScanArguments.Fmt(pos.shape)}.", nameof(pos));
        if (firstRow < 0 || firstRow + x.shape[^2] > (long)side * side)
            throw new ArgumentOutOfRangeException(nameof(firstRow), firstRow, $"rows {firstRow}..{firstRow + x.shape[^2] - 1} must lie within the side² = {(long)side * side} positions.");
    }

    static bool PositionsSupported(Tensor pos) =>
        pos.device_type == DeviceType.CPU && pos.dtype == ScalarType.Float32 && pos.is_contiguous() && !(is_grad_enabled() && pos.requires_grad);

    // One row: x += first + second (when given) with the max, then e^(x − max) and its sum, then the scale.
    // NoInlining + AggressiveOptimization: never tier-0 (docs/architecture.md §6).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static unsafe void Row512(float* x, float* first, float* second, int n)
    {
        const int L = 16;
        int full = n / L * L;
        var mv = Vector512.Create(float.NegativeInfinity);
        float max = float.NegativeInfinity;
        if (first is null)
            for (int j = 0; j < full; j += L) mv = Vector512.Max(mv, Vector512.Load(x + j));
        else
            for (int j = 0; j < full; j += L)
            {
                var v = Vector512.Load(x + j) + Vector512.Load(first + j) + Vector512.Load(second + j);
                v.Store(x + j);
                mv = Vector512.Max(mv, v);
            }
        for (int l = 0; l < L; l++) max = MathF.Max(max, mv.GetElement(l));
        max = TailAddMax(x, first, second, full, n, max);
        // e^(x − max) = 2^(x·log2 e − max·log2 e): one FMA and the cheaper base-2 exponential.
        Vector512<float> log2e = Vector512.Create(Log2E), m = Vector512.Create(-max * Log2E);
        var sv = Vector512<float>.Zero;
        for (int j = 0; j < full; j += L)
        {
            var e = FastMath.Exp2F(Vector512.FusedMultiplyAdd(Vector512.Load(x + j), log2e, m));
            e.Store(x + j);
            sv += e;
        }
        float sum = TailExp(x, full, n, max, Vector512.Sum(sv));
        var inv = Vector512.Create(1f / sum);
        for (int j = 0; j < full; j += L) (Vector512.Load(x + j) * inv).Store(x + j);
        for (int j = full; j < n; j++) x[j] *= 1f / sum;
    }

    /// <summary><see cref="Row512"/> in 8-lane vectors (AVX2 + FMA).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static unsafe void Row256(float* x, float* first, float* second, int n)
    {
        const int L = 8;
        int full = n / L * L;
        var mv = Vector256.Create(float.NegativeInfinity);
        float max = float.NegativeInfinity;
        if (first is null)
            for (int j = 0; j < full; j += L) mv = Vector256.Max(mv, Vector256.Load(x + j));
        else
            for (int j = 0; j < full; j += L)
            {
                var v = Vector256.Load(x + j) + Vector256.Load(first + j) + Vector256.Load(second + j);
                v.Store(x + j);
                mv = Vector256.Max(mv, v);
            }
        for (int l = 0; l < L; l++) max = MathF.Max(max, mv.GetElement(l));
        max = TailAddMax(x, first, second, full, n, max);
        Vector256<float> log2e = Vector256.Create(Log2E), m = Vector256.Create(-max * Log2E);
        var sv = Vector256<float>.Zero;
        for (int j = 0; j < full; j += L)
        {
            var e = FastMath.Exp2F(Vector256.FusedMultiplyAdd(Vector256.Load(x + j), log2e, m));
            e.Store(x + j);
            sv += e;
        }
        float sum = TailExp(x, full, n, max, Vector256.Sum(sv));
        var inv = Vector256.Create(1f / sum);
        for (int j = 0; j < full; j += L) (Vector256.Load(x + j) * inv).Store(x + j);
        for (int j = full; j < n; j++) x[j] *= 1f / sum;
    }

    const float Log2E = 1.44269504088896341f;

    /// <summary>The scalar tail of the max pass (with the bias added when given).</summary>
    static unsafe float TailAddMax(float* x, float* first, float* second, int from, int n, float max)
    {
        for (int j = from; j < n; j++)
        {
            if (first is not null) x[j] += first[j] + second[j];
            max = MathF.Max(max, x[j]);
        }
        return max;
    }

    /// <summary>The scalar tail of the exp pass; returns the row's whole sum.</summary>
    static unsafe float TailExp(float* x, int from, int n, float max, float sum)
    {
        for (int j = from; j < n; j++)
        {
            float e = MathF.Exp(x[j] - max);
            x[j] = e;
            sum += e;
        }
        return sum;
    }
}
