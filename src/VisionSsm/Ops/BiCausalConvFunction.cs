using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using VisionSsm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// <see cref="BiCausalConv.Prepare(Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/> with a backward, for the fused
/// training path of the Mamba mixers: from in_proj's token-major [x | z] (batch, L, 2Di) to the scan's channel-major
/// u = SiLU(causal depthwise conv(x)) and z, for one direction or both (the backward direction in flipped time,
/// docs/models/vim.md §4). In the module path the same step is libtorch's conv1d, SiLU, two flips and two transposed
/// copies per direction, whose backward took about a sixth of a Vim-S training step.
/// The backward kernel recomputes the conv from the saved xz, so only xz is kept.
/// Float32 CPU with Di a multiple of 8 (<see cref="BiCausalConv.Supports"/>); the twin is
/// <see cref="BiCausalConv.PrepareReference(Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/> (tensor ops, libtorch autograd).
/// </summary>
public static class BiCausalConvFunction
{
    const int W = 8;   // Vector256<float>: 8 channels of one token per vector

    /// <summary>
    /// (u, z) as <see cref="BiCausalConv.Prepare(Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/>, differentiable in xz,
    /// the weights and the biases. Falls back to the reference ops where the kernels cannot run.
    /// </summary>
    public static (Tensor U, Tensor Z) Apply(Tensor xz, Tensor weight, Tensor? bias, Tensor? weightB = null, Tensor? biasB = null)
    {
        var (_, _, di, _) = BiCausalConv.Check(xz, weight, bias, weightB, biasB);
        bool sameDtype = new[] { weight, bias, weightB, biasB }.All(t => t is null || (t.dtype == xz.dtype && t.device_type == xz.device_type));
        if (!BiCausalConv.Supports(xz, di) || !sameDtype) return BiCausalConv.PrepareReference(xz, weight, bias, weightB, biasB);
        var outs = Function.apply(xz, weight, bias!, weightB!, biasB!);
        return (outs[0], outs[1]);
    }

    sealed class Function : autograd.MultiTensorFunction<Function>
    {
        public override string Name => nameof(BiCausalConvFunction);

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var xz = ((Tensor)vars[0]).contiguous();
            var weight = (Tensor)vars[1];
            var bias = vars[2] as Tensor;
            var weightB = vars[3] as Tensor;
            var biasB = vars[4] as Tensor;
            ctx.save_for_backward([xz, weight, bias!, weightB!, biasB!]);
            // As in the scan's Function: missing output grads stay null instead of zero copies made at forward time.
            ctx.set_materialize_grads(false);
            using (no_grad())
            {
                var (u, z) = BiCausalConv.Prepare(xz, weight, bias, weightB, biasB);
                return [u, z];
            }
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grads)
        {
            var s = ctx.get_saved_variables();
            Tensor? Defined(Tensor? t) => t is null || t.IsInvalid ? null : t;
            var g = Backward(s[0], s[1], Defined(s[2]), Defined(s[3]), Defined(s[4]), Defined(grads[0]), Defined(grads[1]));
            foreach (var t in s) t?.Dispose();
            return [g.DXz, g.DWeight, g.DBias!, g.DWeightB!, g.DBiasB!];
        }
    }

    /// <summary>The gradients of <see cref="Apply"/>'s inputs (null where the input is null).</summary>
    internal readonly record struct Grads(Tensor DXz, Tensor DWeight, Tensor? DBias, Tensor? DWeightB, Tensor? DBiasB);

    /// <summary>
    /// The backward kernel: xz (batch, L, 2Di) contiguous; dU, dZ (batch, directions·Di, L) or null (no gradient).
    /// Per direction with pre_t = b + Σ_j w_j·x_{t−K+1+j} (x read in flipped time for the backward direction) and
    /// g_t = dU_t·SiLU'(pre_t): dx_τ = Σ_j w_j·g_{τ+K−1−j} (mapped through the flip), dw_j = Σ_t g_t·x_{t−K+1+j},
    /// db = Σ_t g_t; and dz_τ = dZ_τ (+ dZ of the flipped half at L−1−τ).
    /// </summary>
    internal static Grads Backward(Tensor xz, Tensor weight, Tensor? bias, Tensor? weightB, Tensor? biasB, Tensor? dU, Tensor? dZ)
    {
        var (batch, length, di, k) = BiCausalConv.Check(xz, weight, bias, weightB, biasB);
        int directions = weightB is null ? 1 : 2;
        var expected = new[] { batch, directions * di, length };
        foreach (var (t, name) in new[] { (dU, "dU"), (dZ, "dZ") })
            if (t is not null && !t.shape.SequenceEqual(expected))
                throw new ArgumentException($"{name} has shape {ScanArguments.Fmt(t.shape)}; expected {ScanArguments.Fmt(expected)}.", name);
        using var scope = NewDisposeScope();
        Tensor Dense(Tensor t) => t.is_contiguous() ? t : t.contiguous();
        var src = Dense(xz);
        var w = Dense(weight);
        var wb = weightB is null ? w : Dense(weightB);
        var b = bias is null ? zeros(di, dtype: xz.dtype) : Dense(bias);
        var bb = biasB is null ? b : Dense(biasB);
        var du = dU is null ? null : Dense(dU);
        var dz = dZ is null ? null : Dense(dZ);
        var dxz = empty(batch, length, 2 * di, dtype: xz.dtype);
        var dwPart = zeros(batch, directions, di, k, dtype: xz.dtype);     // per batch element: no two items write one row
        var dbPart = zeros(batch, directions, di, dtype: xz.dtype);
        unsafe
        {
            var job = new BackwardJob
            {
                Xz = Ptr(src), Weight = Ptr(w), WeightB = Ptr(wb), Bias = Ptr(b), BiasB = Ptr(bb),
                DU = du is null ? null : Ptr(du), DZ = dz is null ? null : Ptr(dz),
                DXz = Ptr(dxz), DWeight = Ptr(dwPart), DBias = Ptr(dbPart),
                Length = length, DInner = di, Kernel = k, Directions = directions,
            };
            // One work item = one (batch, channel chunk of 64); it handles both directions, which write the same dx.
            long chunk = Math.Min(di, 64), chunks = (di + chunk - 1) / chunk;
            OpenMpTeam.For(0L, batch * chunks, TorchRuntime.KernelParallelism, i =>
            {
                long c0 = i % chunks * chunk;
                job.Run(i / chunks, c0, Math.Min(di, c0 + chunk));
            });
        }
        var dw = dwPart.sum(0L);                                            // (directions, Di, K)
        var db = dbPart.sum(0L);
        return new Grads(dxz.MoveToOuterDisposeScope(),
            dw[0].view(weight.shape).MoveToOuterDisposeScope(),
            bias is null ? null : db[0].MoveToOuterDisposeScope(),
            weightB is null ? null : dw[1].view(weightB.shape).MoveToOuterDisposeScope(),
            biasB is null ? null : db[1].MoveToOuterDisposeScope());
    }

    unsafe struct BackwardJob
    {
        public float* Xz, Weight, WeightB, Bias, BiasB, DU, DZ, DXz, DWeight, DBias;
        public long Length, DInner;
        public int Kernel, Directions;

        /// <summary>Channels [c0, c1) of one batch element, 8 at a time (channels in lanes), both directions.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(long batch, long c0, long c1)
        {
            long l = Length, di = DInner, rowStride = 2 * di, gradRows = Directions * di;
            int k = Kernel;
            float* x = Xz + batch * l * rowStride;
            float* dx = DXz + batch * l * rowStride;
            // Per 8-channel block: g of each direction (channels in lanes) over time, then the z grads.
            var g = (Vector256<float>*)NativeMemory.AlignedAlloc((nuint)(2 * l * sizeof(Vector256<float>)), 64);
            var zg = (Vector256<float>*)NativeMemory.AlignedAlloc((nuint)(2 * l * sizeof(Vector256<float>)), 64);
            var w = stackalloc Vector256<float>[2 * k];
            try
            {
                for (long c = c0; c < c1; c += W)
                {
                    for (int d = 0; d < Directions; d++)
                    {
                        float* weight = d == 0 ? Weight : WeightB;
                        for (int j = 0; j < k; j++)
                        {
                            var lanes = (float*)&w[d * k + j];
                            for (int lane = 0; lane < W; lane++) lanes[lane] = weight[(c + lane) * k + j];
                        }
                        var gd = g + d * l;
                        if (DU is null) { for (long t = 0; t < l; t++) gd[t] = Vector256<float>.Zero; }
                        else LoadLanes(DU + (batch * gradRows + d * di + c) * l, l, gd);
                        var zd = zg + d * l;
                        if (DZ is null) { for (long t = 0; t < l; t++) zd[t] = Vector256<float>.Zero; }
                        else LoadLanes(DZ + (batch * gradRows + d * di + c) * l, l, zd);
                        var biasV = Vector256.Load((d == 0 ? Bias : BiasB) + c);
                        float* dw = DWeight + ((batch * Directions + d) * di + c) * k, db = DBias + (batch * Directions + d) * di + c;
                        if (k == 4) Gate4(x + c, l, rowStride, w + d * k, biasV, d == 1, gd, dw, db);
                        else Gate(x + c, l, rowStride, k, w + d * k, biasV, d == 1, gd, dw, db);
                    }
                    // dx_τ: taps of the forward direction at t = τ + K−1−j, of the backward one at t = L+K−2−τ−j.
                    for (long tau = 0; tau < l; tau++)
                    {
                        var acc = Vector256<float>.Zero;
                        for (int j = 0; j < k; j++)
                        {
                            long t = tau + k - 1 - j;
                            if (t < l) acc = Vector256.FusedMultiplyAdd(w[j], g[t], acc);
                        }
                        var dzv = zg[tau];
                        if (Directions == 2)
                        {
                            for (int j = 0; j < k; j++)
                            {
                                long t = l + k - 2 - tau - j;
                                if (t < l) acc = Vector256.FusedMultiplyAdd(w[k + j], g[l + t], acc);
                            }
                            dzv += zg[l + l - 1 - tau];
                        }
                        acc.Store(dx + tau * rowStride + c);
                        dzv.Store(dx + tau * rowStride + di + c);
                    }
                }
            }
            finally
            {
                NativeMemory.AlignedFree(g);
                NativeMemory.AlignedFree(zg);
            }
        }

        /// <summary>
        /// In place g_t ← dU_t·SiLU'(pre_t) for one direction of an 8-channel block (x at channel offset applied),
        /// recomputing pre_t from the token rows; adds Σ_t g_t·x_{t−K+1+j} into dw (8 channels × K, row-major as the
        /// weight) and Σ_t g_t into db.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Gate(float* x, long l, long rowStride, int k, Vector256<float>* w, Vector256<float> bias, bool flipped,
            Vector256<float>* g, float* dw, float* db)
        {
            var dwAcc = stackalloc Vector256<float>[k];
            for (int j = 0; j < k; j++) dwAcc[j] = Vector256<float>.Zero;
            var dbAcc = Vector256<float>.Zero;
            var one = Vector256<float>.One;
            for (long t = 0; t < l; t++)
            {
                var pre = bias;
                for (int j = 0; j < k; j++)
                {
                    long tt = t - k + 1 + j;
                    if (tt >= 0) pre = Vector256.FusedMultiplyAdd(w[j], Vector256.Load(x + (flipped ? l - 1 - tt : tt) * rowStride), pre);
                }
                var sig = one / (one + FastMath.ExpF(-pre));
                var gt = g[t] * sig * Vector256.FusedMultiplyAdd(pre, one - sig, one);   // SiLU'(p) = σ(p)(1 + p(1 − σ(p)))
                g[t] = gt;
                dbAcc += gt;
                for (int j = 0; j < k; j++)
                {
                    long tt = t - k + 1 + j;
                    if (tt >= 0) dwAcc[j] = Vector256.FusedMultiplyAdd(gt, Vector256.Load(x + (flipped ? l - 1 - tt : tt) * rowStride), dwAcc[j]);
                }
            }
            for (int lane = 0; lane < W; lane++)
            {
                for (int j = 0; j < k; j++) dw[lane * k + j] += ((float*)&dwAcc[j])[lane];
                db[lane] += ((float*)&dbAcc)[lane];
            }
        }

        /// <summary>
        /// <see cref="Gate"/> for Mamba's kernel width 4 with the taps, the last three token vectors and the weight
        /// gradients in registers: one token load per step (zero vectors before t = 0 are the causal padding).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Gate4(float* x, long l, long rowStride, Vector256<float>* w, Vector256<float> bias, bool flipped,
            Vector256<float>* g, float* dw, float* db)
        {
            Vector256<float> w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
            Vector256<float> x3 = default, x2 = default, x1 = default;        // tokens t−3, t−2, t−1
            Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default, dbAcc = default;
            var one = Vector256<float>.One;
            for (long t = 0; t < l; t++)
            {
                var x0 = Vector256.Load(x + (flipped ? l - 1 - t : t) * rowStride);
                var pre = Vector256.FusedMultiplyAdd(w3, x0, Vector256.FusedMultiplyAdd(w2, x1,
                    Vector256.FusedMultiplyAdd(w1, x2, Vector256.FusedMultiplyAdd(w0, x3, bias))));
                var sig = one / (one + FastMath.ExpF(-pre));
                var gt = g[t] * sig * Vector256.FusedMultiplyAdd(pre, one - sig, one);   // SiLU'(p) = σ(p)(1 + p(1 − σ(p)))
                g[t] = gt;
                dbAcc += gt;
                d0 = Vector256.FusedMultiplyAdd(gt, x3, d0);
                d1 = Vector256.FusedMultiplyAdd(gt, x2, d1);
                d2 = Vector256.FusedMultiplyAdd(gt, x1, d2);
                d3 = Vector256.FusedMultiplyAdd(gt, x0, d3);
                x3 = x2; x2 = x1; x1 = x0;
            }
            for (int lane = 0; lane < W; lane++)
            {
                dw[lane * 4] += d0.GetElement(lane);
                dw[lane * 4 + 1] += d1.GetElement(lane);
                dw[lane * 4 + 2] += d2.GetElement(lane);
                dw[lane * 4 + 3] += d3.GetElement(lane);
                db[lane] += dbAcc.GetElement(lane);
            }
        }

        /// <summary>8 channel rows (row stride L) → L vectors with one channel per lane: 8×8 register transposes, then the
        /// tail steps one by one.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void LoadLanes(float* rows, long l, Vector256<float>* dst)
        {
            long t = 0;
            if (Transposes.Supported)
                for (; t + W <= l; t += W) Transposes.Transpose(rows + t, l, dst + t, 1);
            for (; t < l; t++)
            {
                var lanes = (float*)&dst[t];
                for (int lane = 0; lane < W; lane++) lanes[lane] = rows[lane * l + t];
            }
        }
    }

    static unsafe float* Ptr(Tensor t) => SelectiveScanCpu.Ptr<float>(t);
}
