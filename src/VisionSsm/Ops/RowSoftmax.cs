using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Softmax over the last dimension, in place, for the attention logits of the BoTNet MHSA layer: per row,
/// max, then e^(x − max) with its sum, then the scale by 1/sum, in 16-lane vectors with <see cref="FastMath.ExpF(Vector512{float})"/>.
/// libtorch's softmax took 0.14–0.17 ms for vGamba-B's 392 × 784 side-28 row blocks on one thread (`vgamba-mhsa`);
/// this pass is several times faster. Float32 CPU tensors with dense rows on AVX-512 and no autograd; anything else
/// goes to <see cref="Reference"/> (libtorch's softmax, the twin).
/// </summary>
public static class RowSoftmax
{
    const int Lanes = 16;

    /// <summary>True when the kernel runs for <paramref name="x"/>.</summary>
    public static bool Supports(Tensor x) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.dim() >= 1 && x.is_contiguous()
        && Vector512.IsHardwareAccelerated && !(is_grad_enabled() && x.requires_grad);

    /// <summary>softmax(x, −1) written over x (returned); the twin's result (a new tensor) when the kernel does not apply.</summary>
    public static Tensor ApplyInPlace(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!Supports(x)) return Reference(x);
        long cols = x.shape[^1], rows = cols == 0 ? 0 : x.numel() / cols;
        if (rows == 0) return x;
        unsafe
        {
            nint data = (nint)SelectiveScanCpu.Ptr<float>(x);
            // Work items of ≥ 64K elements keep the per-item overhead small at side 14/7 (a head's whole logits).
            long per = Math.Max(1, (1L << 16) / cols), items = (rows + per - 1) / per;
            OpenMpTeam.For(0L, items, TorchRuntime.KernelParallelism, i =>
            {
                for (long r = i * per, end = Math.Min(rows, r + per); r < end; r++) Row((float*)data + r * cols, (int)cols);
            });
        }
        return x;
    }

    /// <summary>The twin: libtorch's softmax over the last dimension (a new tensor).</summary>
    public static Tensor Reference(Tensor x) => nn.functional.softmax(x, -1);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
    static unsafe void Row(float* x, int n)
    {
        int full = n / Lanes * Lanes;
        var mv = Vector512.Create(float.NegativeInfinity);
        for (int j = 0; j < full; j += Lanes) mv = Vector512.Max(mv, Vector512.Load(x + j));
        float max = mv.ToScalar();
        for (int l = 1; l < Lanes; l++) max = MathF.Max(max, mv.GetElement(l));
        for (int j = full; j < n; j++) max = MathF.Max(max, x[j]);
        var m = Vector512.Create(max);
        var sv = Vector512<float>.Zero;
        for (int j = 0; j < full; j += Lanes)
        {
            var e = FastMath.ExpF(Vector512.Load(x + j) - m);
            e.Store(x + j);
            sv += e;
        }
        float sum = Vector512.Sum(sv);
        for (int j = full; j < n; j++)
        {
            float e = MathF.Exp(x[j] - max);
            x[j] = e;
            sum += e;
        }
        var inv = Vector512.Create(1f / sum);
        for (int j = 0; j < full; j += Lanes) (Vector512.Load(x + j) * inv).Store(x + j);
        for (int j = full; j < n; j++) x[j] *= 1f / sum;
    }
}
