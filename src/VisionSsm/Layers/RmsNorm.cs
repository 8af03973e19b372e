using System.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// RMSNorm over the last dimension (mamba_ssm <c>RMSNorm</c>, docs/models/vim.md §3):
/// <c>y = x · rsqrt(mean(x²) + eps) · weight</c>. Weight only (no bias), initialised to 1. Computed in at least
/// float32 and cast back to the input dtype, as the fused kernel does.
/// </summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    public long NormalizedShape { get; }
    public double Eps { get; }

    private readonly Parameter weight;

    public RmsNorm(long normalizedShape, double eps = 1e-5, Device? device = null) : base(nameof(RmsNorm))
    {
        if (normalizedShape < 1) throw new ArgumentOutOfRangeException(nameof(normalizedShape), normalizedShape, "expected ≥ 1");
        NormalizedShape = normalizedShape;
        Eps = eps;
        weight = Parameter(ones(normalizedShape, device: device));
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() < 1 || x.shape[^1] != NormalizedShape)
            throw new ArgumentException($"RmsNorm expects (…, {NormalizedShape}); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var scope = NewDisposeScope();
        var xf = Float32OrWider(x);
        var y = xf * rsqrt(xf.pow(Scalars.Two).mean([-1L], keepdim: true).PlusScalar(Eps)) * weight.to_type(xf.dtype);
        return y.to_type(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The pre-norm residual step of mamba_ssm's fused add+norm (docs/models/vim.md §3): <c>r = residual + hidden</c> (<c>r = hidden</c>
    /// when <paramref name="residual"/> is null), returns (norm(r), r), r kept in float32 or wider. Float32 CPU
    /// inference (no gradient needed) runs one C# pass per token row; otherwise the tensor
    /// ops of <see cref="AddAndNormReference"/>, its slow twin.
    /// </summary>
    public (Tensor Normed, Tensor Residual) AddAndNorm(Tensor hidden, Tensor? residual)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (hidden.dim() < 1 || hidden.shape[^1] != NormalizedShape)
            throw new ArgumentException($"RmsNorm expects (…, {NormalizedShape}); got {Ops.ScanArguments.Fmt(hidden.shape)}.", nameof(hidden));
        if (residual is not null && !residual.shape.SequenceEqual(hidden.shape))
            throw new ArgumentException($"Argument 'residual' has shape {Ops.ScanArguments.Fmt(residual.shape)}; expected {Ops.ScanArguments.Fmt(hidden.shape)}, the shape of hidden.", nameof(residual));
        bool float32Cpu = hidden.dtype == ScalarType.Float32 && hidden.device_type == DeviceType.CPU
            && weight.dtype == ScalarType.Float32 && weight.device_type == DeviceType.CPU
            && (residual is null || (residual.dtype == ScalarType.Float32 && residual.device_type == DeviceType.CPU));
        bool needGrad = is_grad_enabled() && (hidden.requires_grad || weight.requires_grad || residual?.requires_grad == true);
        if (float32Cpu && !needGrad) return AddAndNormFast(hidden, residual);
        if (float32Cpu && residual is not null)
        {
            // Training: the same row pass with a backward row pass (Vim's layers all have a residual but the first).
            var outs = AddAndNormFunction.apply(hidden, residual, weight, Eps);
            return (outs[0], outs[1]);
        }
        return AddAndNormReference(hidden, residual);
    }

    /// <summary>
    /// Autograd of the fused add + norm: forward as <see cref="AddAndNormFast"/> (keeps r = residual + hidden); backward
    /// per row with n = r·ρ, ρ = rsqrt(mean(r²) + eps): dr = ρ·(gy·w − n·mean(gy·w·n)) + g_r (g_r: the gradient
    /// of the residual output), d hidden = d residual = dr, dw = Σ_rows gy·n.
    /// </summary>
    sealed class AddAndNormFunction : autograd.MultiTensorFunction<AddAndNormFunction>
    {
        public override string Name => "RmsNorm.AddAndNorm";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var hidden = (Tensor)vars[0];
            var residual = (Tensor)vars[1];
            var weight = (Tensor)vars[2];
            double eps = (double)vars[3];
            (Tensor normed, Tensor r) outs;
            using (no_grad()) outs = AddAndNormRowsOf(hidden, residual, weight, eps);
            ctx.save_for_backward([outs.r, weight]);
            ctx.save_data("eps", eps);
            ctx.set_materialize_grads(false);
            return [outs.normed, outs.r];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grads)
        {
            var s = ctx.get_saved_variables();
            var (r, weight) = (s[0], s[1]);
            float eps = (float)(double)ctx.get_data("eps");
            Tensor? gy = grads[0] is null || grads[0].IsInvalid ? null : grads[0].contiguous();
            Tensor? gr = grads[1] is null || grads[1].IsInvalid ? null : grads[1].contiguous();
            long d = weight.shape[0], rows = r.numel() / d;
            var dr = gr is null ? zeros_like(r) : gr.clone();
            Tensor dw;
            if (gy is null) dw = zeros_like(weight);
            else
            {
                const long Chunk = 64;
                long chunks = (rows + Chunk - 1) / Chunk;
                var dwPart = zeros(chunks, d);                                  // one row per chunk: no two threads add into one
                var w = weight.detach().contiguous();
                unsafe
                {
                    float* rp = Ptr(r), gp = Ptr(gy), wp = Ptr(w), dp = Ptr(dr), pp = Ptr(dwPart);
                    Runtime.OpenMpTeam.For(0L, chunks, rows * d < 1 << 18 ? Sequential : Runtime.TorchRuntime.KernelParallelism,
                        i => BackwardRows(rp, gp, wp, dp, pp + i * d, i * Chunk, Math.Min(rows, (i + 1) * Chunk), d, eps));
                }
                dw = dwPart.sum(0L);
                GC.KeepAlive(w); GC.KeepAlive(gy);   // read through raw pointers above; gy may be a fresh contiguous copy
            }
            foreach (var t in s) t.Dispose();
            return [dr, dr.clone(), dw, null!];
        }
    }

    static readonly ParallelOptions Sequential = new() { MaxDegreeOfParallelism = 1 };

    /// <summary>Rows [r0, r1): dr = ρ·(gy·w − n·mean(gy·w·n)) added into dr (holding g_r), gy·n summed into dwRow.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    static unsafe void BackwardRows(float* r, float* gy, float* w, float* dr, float* dwRow, long r0, long r1, long d, float eps)
    {
        int lanes = Vector<float>.Count;
        for (long row = r0; row < r1; row++)
        {
            float* rr = r + row * d, gr = gy + row * d, dd = dr + row * d;
            var ss = Vector<float>.Zero;
            var dot = Vector<float>.Zero;
            long i = 0;
            for (; i + lanes <= d; i += lanes)
            {
                var v = Vector.Load(rr + i);
                ss += v * v;
                dot += Vector.Load(gr + i) * Vector.Load(w + i) * v;
            }
            float sss = Vector.Sum(ss), sdot = Vector.Sum(dot);
            for (; i < d; i++)
            {
                sss += rr[i] * rr[i];
                sdot += gr[i] * w[i] * rr[i];
            }
            float rho = 1f / MathF.Sqrt(sss / d + eps);
            float k = rho * rho * sdot / d;                     // mean(gy·w·n) = ρ·Σ gy·w·r / D; times n = r·ρ
            var rhoV = new Vector<float>(rho);
            var kV = new Vector<float>(k);
            for (i = 0; i + lanes <= d; i += lanes)
            {
                var v = Vector.Load(rr + i);
                var g = Vector.Load(gr + i);
                (Vector.Load(dd + i) + rhoV * (g * Vector.Load(w + i) - v * kV)).Store(dd + i);
                (Vector.Load(dwRow + i) + g * v * rhoV).Store(dwRow + i);
            }
            for (; i < d; i++)
            {
                dd[i] += rho * (gr[i] * w[i] - rr[i] * k);
                dwRow[i] += gr[i] * rr[i] * rho;
            }
        }
    }

    /// <summary>The slow twin of <see cref="AddAndNorm"/>: an add and <see cref="forward"/> as tensor ops (differentiable).</summary>
    public (Tensor Normed, Tensor Residual) AddAndNormReference(Tensor hidden, Tensor? residual)
    {
        using var scope = NewDisposeScope();
        var r = Float32OrWider(residual is null ? hidden.alias() : residual.Plus(hidden));
        var normed = call(r.to_type(hidden.dtype));
        return (normed.MoveToOuterDisposeScope(), r.MoveToOuterDisposeScope());
    }

    (Tensor Normed, Tensor Residual) AddAndNormFast(Tensor hidden, Tensor? residual) => AddAndNormRowsOf(hidden, residual, weight, Eps);

    /// <summary>The row pass of <see cref="AddAndNorm"/> on float32 CPU tensors, no autograd.</summary>
    static unsafe (Tensor Normed, Tensor Residual) AddAndNormRowsOf(Tensor hidden, Tensor? residual, Tensor weight, double epsilon)
    {
        using var scope = NewDisposeScope();
        var h = hidden.contiguous();
        var res = residual?.contiguous();
        var w = weight.detach().contiguous();
        var normed = empty_like(h);
        var r = residual is null ? h.alias() : empty_like(h);
        long d = w.shape[0], rows = h.numel() / d;
        float* hp = Ptr(h), rp = res is null ? null : Ptr(res), wp = Ptr(w), op = Ptr(normed), sp = Ptr(r);
        float eps = (float)epsilon;
        // Small inputs (a Vim-S layer is 197 × 384) run on the calling thread: a parallel loop costs more than it saves.
        const long Chunk = 64;
        long chunks = (rows + Chunk - 1) / Chunk;
        if (rows * d < 1 << 18)
            AddAndNormRows(hp, rp, wp, op, sp, 0, rows, d, eps);
        else
            Runtime.OpenMpTeam.For(0L, chunks, Runtime.TorchRuntime.KernelParallelism,
                i => AddAndNormRows(hp, rp, wp, op, sp, i * Chunk, Math.Min(rows, (i + 1) * Chunk), d, eps));
        return (normed.MoveToOuterDisposeScope(), r.MoveToOuterDisposeScope());
    }

    /// <summary>Rows [r0, r1): s = h + res (written to sum unless res is null), out = s · rsqrt(mean(s²) + eps) · w.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    static unsafe void AddAndNormRows(float* h, float* res, float* w, float* output, float* sum, long r0, long r1, long d, float eps)
    {
        int lanes = Vector<float>.Count;
        for (long row = r0; row < r1; row++)
        {
            float* hr = h + row * d, sr = res is null ? hr : sum + row * d, o = output + row * d;
            var acc = Vector<float>.Zero;
            long i = 0;
            for (; i + lanes <= d; i += lanes)
            {
                var v = Vector.Load(hr + i);
                if (res is not null) { v += Vector.Load(res + row * d + i); v.Store(sr + i); }
                acc += v * v;
            }
            float ss = Vector.Sum(acc);
            for (; i < d; i++)
            {
                float v = hr[i] + (res is null ? 0f : res[row * d + i]);
                if (res is not null) sr[i] = v;
                ss += v * v;
            }
            float scale = 1f / MathF.Sqrt(ss / d + eps);
            var sv = new Vector<float>(scale);
            for (i = 0; i + lanes <= d; i += lanes)
                (Vector.Load(sr + i) * sv * Vector.Load(w + i)).Store(o + i);
            for (; i < d; i++) o[i] = sr[i] * scale * w[i];
        }
    }

    static unsafe float* Ptr(Tensor t) => Ops.SelectiveScanCpu.Ptr<float>(t);

    /// <summary>x unchanged if it is float32 or float64, else x cast to float32 (residual_in_fp32, docs/models/vim.md §3).</summary>
    public static Tensor Float32OrWider(Tensor x) =>
        x.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
}
