using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// TorchSharp's <see cref="AdamW"/> with its step fused into one C# loop: each element of p, grad, exp_avg and
/// exp_avg_sq is read once and written once, instead of TorchSharp's nine tensor ops per parameter (two of them
/// allocating). Small-image models have many small parameters, so the per-op overhead dominated the step.
/// <para>The math and its order are TorchSharp's (PyTorch's non-amsgrad AdamW): p ← p·(1 − lr·wd);
/// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε).</para>
/// <para>The state is TorchSharp's own <see cref="AdamW.State"/>, so checkpoints are interchangeable with
/// <see cref="AdamW"/>, which is also the slow twin: the step falls back to it whenever a parameter is not a dense
/// float32 CPU tensor laid out like its gradient and moments, or amsgrad/maximize is on.</para>
/// </summary>
public sealed class FusedAdamW : AdamW
{
    public FusedAdamW(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay) { }

    readonly record struct Scalars(float Decay, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
        float StepSize, float SqrtBias2, float Eps);

    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
            using (enable_grad()) loss = closure();
        bool fused;
        using (no_grad())
        using (NewDisposeScope())
            fused = TryFusedStep();
        if (!fused) base.step();
        return loss!;
    }

    /// <summary>Runs the fused update, or changes nothing and returns false when some parameter is not fusable.</summary>
    bool TryFusedStep()
    {
        var work = new List<(Parameter P, Tensor Grad, State State, Options Options)>();
        foreach (var group in _parameter_groups)
        {
            var options = (Options)group.Options;
            foreach (var p in group.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                var state = (State)_state[p.Handle];
                if (!Fusable(p, grad, state, options)) return false;
                work.Add((p, grad, state, options));
            }
        }

        // On the calling thread: waking .NET pool threads between libtorch's OpenMP regions cost more in the training
        // loop than the second core gained (A/B of `vssm train --max-steps 200`, BENCHMARKS.md "Training step").
        foreach (var (p, grad, state, o) in work)
        {
            state.step++;
            double lr = o.LearningRate!.Value, b1 = o.beta1!.Value, b2 = o.beta2!.Value;
            var s = new Scalars(
                Decay: (float)(1.0 - lr * o.weight_decay!.Value),
                Beta1: (float)b1, OneMinusBeta1: (float)(1.0 - b1),
                Beta2: (float)b2, OneMinusBeta2: (float)(1.0 - b2),
                StepSize: (float)(lr / (1.0 - Math.Pow(b1, state.step))),
                SqrtBias2: (float)Math.Sqrt(1.0 - Math.Pow(b2, state.step)),
                Eps: (float)o.eps!.Value);
            unsafe { Update(Ptr(p), Ptr(grad), Ptr(state.exp_avg), Ptr(state.exp_avg_sq), p.numel(), s); }
        }
        GC.KeepAlive(work);
        return true;
    }

    /// <summary>True when the fused loop computes exactly what <see cref="AdamW.step"/> would for this parameter.</summary>
    static bool Fusable(Parameter p, Tensor grad, State state, Options options)
    {
        if (options.amsgrad == true || options.maximize == true) return false;
        if (p.dtype != ScalarType.Float32 || p.device_type != DeviceType.CPU || grad.is_sparse) return false;
        // Element i of the four buffers must be the same logical element: identical shapes and strides over dense
        // memory (any dimension order, e.g. channels-last conv weights).
        var strides = p.stride();
        if (!IsDense(p.shape, strides)) return false;
        foreach (var t in new[] { grad, state.exp_avg, state.exp_avg_sq })
            if (t.dtype != ScalarType.Float32 || t.device_type != DeviceType.CPU || !t.shape.SequenceEqual(p.shape) || !t.stride().SequenceEqual(strides))
                return false;
        return true;
    }

    /// <summary>The memory of a dense tensor (e.g. a channels-last conv weight) through a contiguous view: its dimensions
    /// permuted into stride order.</summary>
    static unsafe float* Ptr(Tensor t)
    {
        var strides = t.stride();
        long[] order = Enumerable.Range(0, (int)t.dim()).OrderByDescending(d => strides[d]).Select(d => (long)d).ToArray();
        return SelectiveScanCpu.Ptr<float>(t.is_contiguous() ? t : t.permute(order));
    }

    /// <summary>Dense and non-overlapping: ordered by stride, each stride is the product of the sizes before it.</summary>
    internal static bool IsDense(long[] shape, long[] strides)
    {
        long expected = 1;
        if (strides.Any(st => st < 0)) return false;
        foreach (int d in Enumerable.Range(0, shape.Length).Where(d => shape[d] != 1).OrderBy(d => strides[d]))
        {
            if (strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>The update of one parameter's <paramref name="count"/> elements: 16 lanes at a time, then the tail.</summary>
    static unsafe void Update(float* P, float* G, float* M, float* V, long count, in Scalars s)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var decay = Vector512.Create(s.Decay);
            var b1 = Vector512.Create(s.Beta1);
            var c1 = Vector512.Create(s.OneMinusBeta1);
            var b2 = Vector512.Create(s.Beta2);
            var c2 = Vector512.Create(s.OneMinusBeta2);
            var stepSize = Vector512.Create(s.StepSize);
            var sqrtBias2 = Vector512.Create(s.SqrtBias2);
            var eps = Vector512.Create(s.Eps);
            for (; i + 16 <= count; i += 16)
            {
                var g = Vector512.Load(G + i);
                var m = b1 * Vector512.Load(M + i) + c1 * g;
                var v = b2 * Vector512.Load(V + i) + c2 * (g * g);
                var p = Vector512.Load(P + i) * decay;
                p -= stepSize * (m / (Vector512.Sqrt(v) / sqrtBias2 + eps));
                m.Store(M + i);
                v.Store(V + i);
                p.Store(P + i);
            }
        }
        for (; i < count; i++)
        {
            float g = G[i];
            float m = s.Beta1 * M[i] + s.OneMinusBeta1 * g;
            float v = s.Beta2 * V[i] + s.OneMinusBeta2 * (g * g);
            float p = P[i] * s.Decay;
            M[i] = m;
            V[i] = v;
            P[i] = p - s.StepSize * (m / (MathF.Sqrt(v) / s.SqrtBias2 + s.Eps));
        }
    }
}
