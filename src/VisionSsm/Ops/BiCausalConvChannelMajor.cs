using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using VisionSsm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// <see cref="BiCausalConv.Prepare(Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/> for a channel-major in_proj output
/// xzᵀ (batch, 2Di, L) = [x ; z], as <see cref="Gemm.MatMul"/> produces it (docs/models/vim.md §4, docs/models/mamba.md §1 steps 2 and 4):
/// each channel is a contiguous time row, so the causal depthwise conv runs along time in 16-lane vectors with no
/// transposes, the backward direction reading the row reversed. Same outputs as Prepare on the token-major view:
/// u (batch, 2Di, L) = [SiLU(conv(x)) ; SiLU(conv_b(flip x)) in flipped time] and z2 = [z ; flip z].
/// Float32 CPU with AVX-512 (16 steps per vector) or AVX2 + FMA (8), forward only; otherwise (and as the slow twin) <see cref="BiCausalConv.PrepareReference(Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/>
/// on the token-major view.
/// </summary>
public static class BiCausalConvChannelMajor
{
    /// <summary>Steps per vector of the wider path (the row buffers' tail padding covers both widths).</summary>
    const int Lanes = 16;

    /// <summary>True when the kernel handles this input (else <see cref="Prepare"/> runs the tensor-op twin).</summary>
    public static bool Supports(Tensor xzT) =>
        xzT.device_type == DeviceType.CPU && xzT.dtype == ScalarType.Float32 && RowMajorGemm.KernelSupported;

    /// <summary>
    /// One direction (the causal Mamba mixer): xzT (batch, 2Di, L) = [x ; z] channel-major, conv weight
    /// (Di, 1, K) and bias (Di) or null. Returns u = SiLU(causal depthwise conv(x)) (batch, Di, L) and z = xzT's z rows
    /// (batch, Di, L), a view (no copy), equal to <c>BiCausalConv.Prepare(xzT.transpose(1, 2), weight, bias)</c>.
    /// </summary>
    public static (Tensor U, Tensor Z) Prepare(Tensor xzT, Tensor weight, Tensor? bias) => Prepare(xzT, weight, bias, null, null);

    /// <summary>
    /// xzT (batch, 2Di, L) = [x ; z] channel-major; conv weights (Di, 1, K) and biases (Di) or null of both directions.
    /// Returns (u, z2), both (batch, 2Di, L), equal to <c>BiCausalConv.Prepare(xzT.transpose(1, 2), …)</c>. With
    /// <paramref name="weightB"/> null, one direction as in <see cref="Prepare(Tensor, Tensor, Tensor?)"/>.
    /// </summary>
    public static (Tensor U, Tensor Z) Prepare(Tensor xzT, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB) =>
        Prepare(xzT, weight, bias, weightB, biasB, null);

    /// <summary><paramref name="wide"/>: 16-step (true) or 8-step (false) vectors; null: the widest this CPU accelerates.
    /// For tests of both widths on one machine.</summary>
    internal static (Tensor U, Tensor Z) Prepare(Tensor xzT, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB, bool? wide)
    {
        if (wide == true && !Vector512.IsHardwareAccelerated) throw new PlatformNotSupportedException("the 16-step vectors need AVX-512.");
        ArgumentNullException.ThrowIfNull(xzT);
        if (xzT.dim() != 3 || xzT.shape[1] % 2 != 0)
            throw new ArgumentException($"Argument 'xzT' has shape {ScanArguments.Fmt(xzT.shape)}; expected channel-major (batch, 2·Di, L).", nameof(xzT));
        var tokenMajor = xzT.transpose(1, 2);
        // Argument checks (shapes of the weights and biases against Di) are Prepare's own.
        bool sameDtype = new[] { weight, bias, weightB, biasB }.All(t => t is null || (t.dtype == xzT.dtype && t.device_type == xzT.device_type));
        if (!Supports(xzT) || !sameDtype) return BiCausalConv.PrepareReference(tokenMajor, weight, bias, weightB, biasB);
        var (batch, length, di, k) = BiCausalConv.Check(tokenMajor, weight, bias, weightB, biasB);
        int directions = weightB is null ? 1 : 2;
        using var scope = NewDisposeScope();
        var src = xzT.contiguous();
        Tensor Dense(Tensor t) => t.is_contiguous() ? t : t.contiguous();
        Tensor w = Dense(weight), wb = weightB is null ? w : Dense(weightB);
        Tensor b = bias is null ? zeros(di, dtype: xzT.dtype) : Dense(bias), bb = biasB is null ? zeros(di, dtype: xzT.dtype) : Dense(biasB);
        var u = empty(batch, directions * di, length, dtype: xzT.dtype);
        // One direction: z is already channel-major in xzT (its rows dense), so it is returned as a view, not copied.
        var z = directions == 1 ? src.narrow(1, di, di) : empty(batch, 2 * di, length, dtype: xzT.dtype);
        unsafe
        {
            var job = new Job
            {
                Xz = Ptr(src), Weight = Ptr(w), WeightB = Ptr(wb), Bias = Ptr(b), BiasB = Ptr(bb), U = Ptr(u),
                Z = directions == 1 ? null : Ptr(z), Length = (int)length, DInner = di, Kernel = k, Directions = directions,
                Wide = wide ?? Vector512.IsHardwareAccelerated,
            };
            // One work item = (batch, direction, chunk of 32 channels); each writes its own rows of u and z.
            long chunk = Math.Min(di, 32), chunks = (di + chunk - 1) / chunk;
            OpenMpTeam.For(0L, batch * directions * chunks, TorchRuntime.KernelParallelism, i =>
            {
                long c0 = i % chunks * chunk;
                job.Run(i / (directions * chunks), (int)(i / chunks % directions), c0, Math.Min(di, c0 + chunk));
            });
        }
        return (u.MoveToOuterDisposeScope(), z.MoveToOuterDisposeScope());
    }

    unsafe struct Job
    {
        public float* Xz, Weight, WeightB, Bias, BiasB, U, Z;
        public long DInner;
        public int Length, Kernel, Directions;
        public bool Wide;

        /// <summary>
        /// Channels [c0, c1) of one direction (0 forward, 1 backward = flipped time) of one batch element. Each x row is
        /// first laid into a buffer with K-1 leading zeros (the causal padding), reversed for the backward direction, so
        /// out[t] = bias + Σ_j w[j]·buf[t + j] for every t without bounds checks.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]   // never tier-0 (docs/architecture.md §6)
        public readonly void Run(long batch, int direction, long c0, long c1)
        {
            int l = Length, k = Kernel;
            long di = DInner;
            int padded = k - 1 + l + Lanes;
            var buf = stackalloc float[padded];
            float* weight = direction == 0 ? Weight : WeightB, biases = direction == 0 ? Bias : BiasB;
            for (int i = 0; i < padded; i++) buf[i] = 0;
            for (long c = c0; c < c1; c++)
            {
                float* x = Xz + (batch * 2 * di + c) * l, zRow = Xz + (batch * 2 * di + di + c) * l;
                float* u = U + (batch * Directions * di + direction * di + c) * l, zOut = Z + (batch * 2 * di + direction * di + c) * l;
                if (direction == 0)
                {
                    new ReadOnlySpan<float>(x, l).CopyTo(new Span<float>(buf + k - 1, l));
                    if (Z != null) new ReadOnlySpan<float>(zRow, l).CopyTo(new Span<float>(zOut, l));   // null: one direction, z is a view
                }
                else
                {
                    Reverse(x, buf + k - 1, l, Wide);
                    Reverse(zRow, zOut, l, Wide);
                }
                if (Wide) ConvRow512(buf, weight + c * k, k, biases[c], u, l);
                else ConvRow256(buf, weight + c * k, k, biases[c], u, l);
            }
        }

        /// <summary>u[t] = SiLU(bias + Σ_j w[j]·buf[t + j]) for t &lt; l, 16 steps per vector. The tail is a full vector
        /// over the zero-padded end of buf, only its first l − t lanes stored.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void ConvRow512(float* buf, float* w, int k, float b, float* u, int l)
        {
            var taps = stackalloc Vector512<float>[k];
            for (int j = 0; j < k; j++) taps[j] = Vector512.Create(w[j]);
            var bias = Vector512.Create(b);
            int t = 0;
            for (; t + 16 <= l; t += 16) Silu(Conv(buf + t, taps, k, bias)).Store(u + t);
            if (t < l)
            {
                var rest = Silu(Conv(buf + t, taps, k, bias));
                for (int i = 0; t + i < l; i++) u[t + i] = rest.GetElement(i);
            }
        }

        /// <summary><see cref="ConvRow512"/> with 8 steps per vector (AVX2 + FMA).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void ConvRow256(float* buf, float* w, int k, float b, float* u, int l)
        {
            var taps = stackalloc Vector256<float>[k];
            for (int j = 0; j < k; j++) taps[j] = Vector256.Create(w[j]);
            var bias = Vector256.Create(b);
            int t = 0;
            for (; t + 8 <= l; t += 8) Silu(Conv(buf + t, taps, k, bias)).Store(u + t);
            if (t < l)
            {
                var rest = Silu(Conv(buf + t, taps, k, bias));
                for (int i = 0; t + i < l; i++) u[t + i] = rest.GetElement(i);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Conv(float* window, Vector512<float>* taps, int k, Vector512<float> acc)
        {
            for (int j = 0; j < k; j++) acc = Vector512.FusedMultiplyAdd(taps[j], Vector512.Load(window + j), acc);
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Conv(float* window, Vector256<float>* taps, int k, Vector256<float> acc)
        {
            for (int j = 0; j < k; j++) acc = Vector256.FusedMultiplyAdd(taps[j], Vector256.Load(window + j), acc);
            return acc;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Silu(Vector512<float> v) => v / (Vector512<float>.One + FastMath.ExpF(-v));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Silu(Vector256<float> v) => v / (Vector256<float>.One + FastMath.ExpF(-v));

        /// <summary>dst[i] = src[n - 1 - i].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Reverse(float* src, float* dst, int n, bool wide)
        {
            int i = 0;
            if (wide)
            {
                var reverse = Vector512.Create(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
                for (; i + 16 <= n; i += 16) Vector512.Shuffle(Vector512.Load(src + n - 16 - i), reverse).Store(dst + i);
            }
            else
            {
                var reverse = Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0);
                for (; i + 8 <= n; i += 8) Vector256.Shuffle(Vector256.Load(src + n - 8 - i), reverse).Store(dst + i);
            }
            for (; i < n; i++) dst[i] = src[n - 1 - i];
        }
    }

    static unsafe float* Ptr(Tensor t) => SelectiveScanCpu.Ptr<float>(t);   // a contiguous CPU tensor's data
}
