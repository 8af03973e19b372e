using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using VisionSsm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Inference kernels around the Mamba mixer (docs/models/mamba.md §1 steps 2 and 4) that fold the layout changes (and,
/// for Vim's bidirectional mixer, docs/models/vim.md §4, the flips) into one pass each: <see cref="Prepare"/> reads in_proj's
/// token-major output (batch, L, 2Di) = [x | z] once and writes the scan's channel-major inputs — for one direction
/// (the causal Mamba mixer, vGamba's cell) or for both, so Vim's two directions run as one grouped
/// scan over 2·Di channels; <see cref="Merge"/> un-flips and averages the two halves of a bidirectional scan output.
/// Float32 on CPU, forward only (no autograd): callers use <see cref="PrepareReference"/> / <see cref="MergeReference"/>
/// (plain tensor ops, the slow twins) whenever gradients are needed.
/// </summary>
public static class BiCausalConv
{
    const int W = 8;   // lanes of Vector256<float>: one vector holds 8 channels of one token

    /// <summary>True when the fast kernels handle <paramref name="xz"/> with <paramref name="dInner"/> channels per half.</summary>
    public static bool Supports(Tensor xz, long dInner) =>
        xz.device_type == DeviceType.CPU && xz.dtype == ScalarType.Float32 && Transposes.Supported && dInner % W == 0;

    /// <summary>
    /// One direction: xz (batch, L, 2Di) = [x | z] as in_proj returns it, conv weight (Di, 1, K) and bias (Di).
    /// Returns u = SiLU(causal depthwise conv(x)) (batch, Di, L) and zᵀ (batch, Di, L), both contiguous.
    /// </summary>
    public static (Tensor U, Tensor Z) Prepare(Tensor xz, Tensor weight, Tensor? bias) => Prepare(xz, weight, bias, null, null);

    /// <summary>
    /// xz (batch, L, 2Di) = [x | z] as in_proj returns it; conv weights (Di, 1, K) and biases (Di) of the forward and
    /// backward directions. Returns u (batch, 2Di, L): channels [0, Di) = SiLU(causal depthwise conv(x)), channels
    /// [Di, 2Di) = SiLU(causal depthwise conv_b(flip(x))) in flipped time; and z2 (batch, 2Di, L) = [zᵀ | flip(z)ᵀ].
    /// With <paramref name="weightB"/> null only the forward direction is written (u, z of (batch, Di, L)).
    /// </summary>
    public static (Tensor U, Tensor Z) Prepare(Tensor xz, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB)
    {
        var (batch, length, di, k) = Check(xz, weight, bias, weightB, biasB);
        int directions = weightB is null ? 1 : 2;
        bool sameDtype = new[] { weight, bias, weightB, biasB }.All(t => t is null || (t.dtype == xz.dtype && t.device_type == xz.device_type));
        if (!Supports(xz, di) || !sameDtype) return PrepareReference(xz, weight, bias, weightB, biasB);
        using var scope = NewDisposeScope();
        var src = xz.contiguous();
        Tensor Dense(Tensor t) => t.is_contiguous() ? t : t.contiguous();
        Tensor w = Dense(weight), wb = weightB is null ? w : Dense(weightB);                  // (Di, 1, K)
        Tensor b = bias is null ? zeros(di, dtype: xz.dtype) : Dense(bias), bb = biasB is null ? zeros(di, dtype: xz.dtype) : Dense(biasB);
        var u = empty(batch, directions * di, length, dtype: xz.dtype);
        var z = empty(batch, directions * di, length, dtype: xz.dtype);
        unsafe
        {
            var job = new PrepareJob
            {
                Xz = Ptr(src), Weight = Ptr(w), WeightB = Ptr(wb), Bias = Ptr(b), BiasB = Ptr(bb), U = Ptr(u), Z = Ptr(z),
                Length = length, DInner = di, Kernel = k, Directions = directions,
            };
            // One work item = one (batch, direction, channel chunk); each writes its own rows of u and z. Chunks of
            // 64 channels keep the items few (per-item overhead) while leaving enough of them for two threads.
            long chunk = Math.Min(di, 64), chunks = (di + chunk - 1) / chunk;
            OpenMpTeam.For(0L, batch * directions * chunks, TorchRuntime.KernelParallelism, i =>
            {
                long c0 = i % chunks * chunk;
                job.Run(i / (directions * chunks), (int)(i / chunks % directions), c0, Math.Min(di, c0 + chunk));
            });
        }
        return (u.MoveToOuterDisposeScope(), z.MoveToOuterDisposeScope());
    }

    /// <summary>The slow twin of the one-direction <see cref="Prepare(Tensor, Tensor, Tensor?)"/>.</summary>
    public static (Tensor U, Tensor Z) PrepareReference(Tensor xz, Tensor weight, Tensor? bias) => PrepareReference(xz, weight, bias, null, null);

    /// <summary>The slow twin of <see cref="Prepare"/>: conv1d, slice, silu, flip and transpose as tensor ops (differentiable).</summary>
    public static (Tensor U, Tensor Z) PrepareReference(Tensor xz, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB)
    {
        var (_, length, di, k) = Check(xz, weight, bias, weightB, biasB);
        using var scope = NewDisposeScope();
        var x = xz.narrow(2, 0, di).transpose(1, 2);                                            // (B, Di, L)
        var zt = xz.narrow(2, di, di).transpose(1, 2);
        Tensor Conv(Tensor v, Tensor wt, Tensor? bs) =>
            nn.functional.silu(nn.functional.conv1d(v, wt, bs, padding: k - 1, groups: di).narrow(2, 0, length));
        if (weightB is null) return (Conv(x, weight, bias).MoveToOuterDisposeScope(), zt.contiguous().MoveToOuterDisposeScope());
        var xb = x.flip(2);
        var u = cat([Conv(x, weight, bias), Conv(xb, weightB, biasB)], 1);
        var z = cat([zt, zt.flip(2)], 1);
        return (u.MoveToOuterDisposeScope(), z.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// y (batch, 2Di, L) from the grouped scan → (batch, Di, L) = (y[:, :Di] + flip(y[:, Di:])) · scale, i.e. the
    /// backward direction flipped back to input order and the directions averaged (scale ½, <c>if_divide_out</c>) or summed.
    /// </summary>
    public static Tensor Merge(Tensor y, double scale)
    {
        if (y.dim() != 3 || y.shape[1] % 2 != 0)
            throw new ArgumentException($"Argument 'y' has shape {ScanArguments.Fmt(y.shape)}; expected (batch, 2·Di, L).", nameof(y));
        long batch = y.shape[0], di = y.shape[1] / 2, length = y.shape[2];
        if (y.device_type != DeviceType.CPU || y.dtype != ScalarType.Float32 || !Vector256.IsHardwareAccelerated)
            return MergeReference(y, scale);
        using var scope = NewDisposeScope();
        var src = y.contiguous();
        var o = empty(batch, di, length, dtype: y.dtype);
        unsafe
        {
            float* s = Ptr(src), d = Ptr(o);
            float sc = (float)scale;
            OpenMpTeam.For(0L, batch * di, TorchRuntime.KernelParallelism, row =>
            {
                long bi = row / di, c = row % di;
                MergeRow(s + (bi * 2 * di + c) * length, s + (bi * 2 * di + di + c) * length, d + row * length, length, sc);
            });
        }
        return o.MoveToOuterDisposeScope();
    }

    /// <summary>The slow twin of <see cref="Merge"/> (differentiable).</summary>
    public static Tensor MergeReference(Tensor y, double scale)
    {
        using var scope = NewDisposeScope();
        var halves = y.chunk(2, 1);
        return halves[0].Plus(halves[1].flip(2)).Times(scale).MoveToOuterDisposeScope();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void MergeRow(float* f, float* b, float* o, long length, float scale)
    {
        var sc = Vector256.Create(scale);
        var reverse = Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0);
        long t = 0;
        for (; t + W <= length; t += W)
        {
            // backward element for output t is b[L-1-t]: load b[L-W-t .. L-1-t] and reverse the lanes.
            var bv = Vector256.Shuffle(Vector256.Load(b + length - W - t), reverse);
            ((Vector256.Load(f + t) + bv) * sc).Store(o + t);
        }
        for (; t < length; t++) o[t] = (f[t] + b[length - 1 - t]) * scale;
    }

    unsafe struct PrepareJob
    {
        public float* Xz, Weight, WeightB, Bias, BiasB, U, Z;
        public long Length, DInner;
        public int Kernel, Directions;

        /// <summary>
        /// One direction (0 forward, 1 backward = flipped time) of channels [c0, c1) of one batch element. Time runs
        /// in tiles of 8 steps (outer loop, so the K-1+8 token rows a tile reads stay in L1 across the channel
        /// blocks): each 8-channel block computes 8 token vectors (channels in lanes), and an 8×8 register transpose
        /// turns them into 8 contiguous time runs of the channel-major outputs.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // skip tier-0: these loops run a few times per call (docs/architecture.md §6)
        public readonly void Run(long batch, int direction, long c0, long c1)
        {
            long l = Length, di = DInner, rowStride = 2 * di, outRows = Directions * di;
            int k = Kernel, blocks = (int)((c1 - c0) / W);
            float* xBase = Xz + batch * l * rowStride;
            var tile = stackalloc Vector256<float>[W];
            var cols = stackalloc Vector256<float>[W];
            var w = stackalloc Vector256<float>[k * blocks];                        // w[blk·K + j]: tap j of block blk
            var rows = stackalloc long[k + W];                                      // token-row offsets of a tile's window
            float* weight = direction == 0 ? Weight : WeightB, biases = direction == 0 ? Bias : BiasB;
            for (int blk = 0; blk < blocks; blk++)
                for (int j = 0; j < k; j++)
                {
                    var lanes = (float*)&w[blk * k + j];
                    for (int lane = 0; lane < W; lane++) lanes[lane] = weight[(c0 + blk * W + lane) * k + j];
                }
            for (long t0 = 0; t0 < l; t0 += W)
            {
                int steps = (int)Math.Min(W, l - t0);
                // Window of tokens t0-K+1 … t0+steps-1 (−1: zero padding before t = 0, causal conv with padding K-1);
                // the backward direction reads the sequence reversed (token t of flip(x) is row L-1-t).
                for (int i = 0; i < k - 1 + steps; i++)
                {
                    long tt = t0 - k + 1 + i;
                    rows[i] = tt < 0 ? -1 : (direction == 0 ? tt : l - 1 - tt) * rowStride;
                }
                for (int blk = 0; blk < blocks; blk++)
                {
                    long c = c0 + blk * W, ch = direction * di + c;
                    var bias = Vector256.Load(biases + c);
                    var wb = w + blk * k;
                    for (int s = 0; s < steps; s++)
                    {
                        // out[t] = bias + Σ_j w[j]·x[t-K+1+j]
                        var acc = bias;
                        for (int j = 0; j < k; j++)
                        {
                            long r = rows[s + j];
                            if (r >= 0) acc = Vector256.FusedMultiplyAdd(wb[j], Vector256.Load(xBase + r + c), acc);
                        }
                        tile[s] = acc / (Vector256<float>.One + FastMath.ExpF(-acc));  // SiLU
                    }
                    Store(tile, cols, steps, U + (batch * outRows + ch) * l, l, t0);
                    for (int s = 0; s < steps; s++) tile[s] = Vector256.Load(xBase + rows[k - 1 + s] + di + c);
                    Store(tile, cols, steps, Z + (batch * outRows + ch) * l, l, t0);
                }
            }
        }

        /// <summary>Writes tile[s][lane] (s &lt; steps) to rows[lane·L + t0 + s].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store(Vector256<float>* tile, Vector256<float>* cols, int steps, float* rows, long l, long t0)
        {
            if (steps == W)
            {
                Transposes.Transpose((float*)tile, W, cols, 1);
                for (int lane = 0; lane < W; lane++) cols[lane].Store(rows + lane * l + t0);
                return;
            }
            var f = (float*)tile;
            for (int s = 0; s < steps; s++)
                for (int lane = 0; lane < W; lane++) rows[lane * l + t0 + s] = f[s * W + lane];
        }
    }

    internal static (long Batch, long Length, long DInner, int Kernel) Check(Tensor xz, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB)
    {
        ArgumentNullException.ThrowIfNull(xz);
        ArgumentNullException.ThrowIfNull(weight);
        if (weightB is null && biasB is not null)
            throw new ArgumentException("Argument 'biasB' is given without 'weightB' (one direction takes weight and bias only).", nameof(biasB));
        if (xz.dim() != 3 || xz.shape[2] % 2 != 0)
            throw new ArgumentException($"Argument 'xz' has shape {ScanArguments.Fmt(xz.shape)}; expected (batch, L, 2·Di).", nameof(xz));
        long di = xz.shape[2] / 2;
        if (weight.dim() != 3 || weight.shape[0] != di || weight.shape[1] != 1)
            throw new ArgumentException($"Argument 'weight' has shape {ScanArguments.Fmt(weight.shape)}; expected (Di, 1, K) = [{di}, 1, K].", nameof(weight));
        if (weightB is not null && !weightB.shape.SequenceEqual(weight.shape))
            throw new ArgumentException($"Argument 'weightB' has shape {ScanArguments.Fmt(weightB.shape)}; expected {ScanArguments.Fmt(weight.shape)}, the shape of weight.", nameof(weightB));
        if (bias is not null && !bias.shape.SequenceEqual([di]))
            throw new ArgumentException($"Argument 'bias' has shape {ScanArguments.Fmt(bias.shape)}; expected [{di}].", nameof(bias));
        if (biasB is not null && !biasB.shape.SequenceEqual([di]))
            throw new ArgumentException($"Argument 'biasB' has shape {ScanArguments.Fmt(biasB.shape)}; expected [{di}].", nameof(biasB));
        return (xz.shape[0], xz.shape[1], di, (int)weight.shape[2]);
    }

    static unsafe float* Ptr(Tensor t) => SelectiveScanCpu.Ptr<float>(t);   // a contiguous CPU tensor's data
}
