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
        bool fast = hidden.dtype == ScalarType.Float32 && hidden.device_type == DeviceType.CPU
            && (residual is null || (residual.dtype == ScalarType.Float32 && residual.device_type == DeviceType.CPU))
            && !(is_grad_enabled() && (hidden.requires_grad || weight.requires_grad || residual?.requires_grad == true));
        return fast ? AddAndNormFast(hidden, residual) : AddAndNormReference(hidden, residual);
    }

    /// <summary>The slow twin of <see cref="AddAndNorm"/>: an add and <see cref="forward"/> as tensor ops (differentiable).</summary>
    public (Tensor Normed, Tensor Residual) AddAndNormReference(Tensor hidden, Tensor? residual)
    {
        using var scope = NewDisposeScope();
        var r = Float32OrWider(residual is null ? hidden.alias() : residual.Plus(hidden));
        var normed = call(r.to_type(hidden.dtype));
        return (normed.MoveToOuterDisposeScope(), r.MoveToOuterDisposeScope());
    }

    unsafe (Tensor Normed, Tensor Residual) AddAndNormFast(Tensor hidden, Tensor? residual)
    {
        using var scope = NewDisposeScope();
        var h = hidden.contiguous();
        var res = residual?.contiguous();
        var w = weight.detach().contiguous();
        var normed = empty_like(h);
        var r = residual is null ? h.alias() : empty_like(h);
        long d = NormalizedShape, rows = h.numel() / d;
        float* hp = Ptr(h), rp = res is null ? null : Ptr(res), wp = Ptr(w), op = Ptr(normed), sp = Ptr(r);
        float eps = (float)Eps;
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
