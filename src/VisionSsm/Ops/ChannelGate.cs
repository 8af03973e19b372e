using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// y = σ(w·x + b) ⊙ x (+ addend) on channel-first x (batch, P, H, W): a one-output-channel 1×1 convolution gate (w of
/// shape (1, P, 1, 1), as <c>Conv2d(P, 1, 1)</c> stores it), its sigmoid broadcast over the P channels, optionally
/// plus a tensor of x's shape — vGamba's gated fusion term σ(W_g a')·a' (docs/models/vgamba.md §2) in one pass instead
/// of four libtorch ops (conv, sigmoid, multiply, add). Float32 on CPU, forward only: callers use
/// <see cref="ApplyReference"/> (the tensor-op twin, differentiable) whenever gradients are needed.
/// </summary>
public static class ChannelGate
{
    const int W = 8;        // Vector256<float> lanes: 8 positions
    const int Tile = 256;   // positions per work item: the gate of 256 positions in 32 registers' worth of stack, and P·256 floats of x in L2

    /// <summary>True when the fast kernel handles <paramref name="x"/> (float32 on the CPU, AVX).</summary>
    public static bool Supports(Tensor x) => x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && Vector256.IsHardwareAccelerated;

    /// <summary>σ(conv1×1(x; weight, bias)) ⊙ x (+ addend); the kernel when <see cref="Supports"/>, else the twin.</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, Tensor? addend = null)
    {
        Check(x, weight, bias, addend);
        bool sameType = new[] { weight, bias, addend }.All(t => t is null || (t.dtype == x.dtype && t.device_type == x.device_type));
        if (!Supports(x) || !sameType) return ApplyReference(x, weight, bias, addend);
        using var scope = NewDisposeScope();
        long batch = x.shape[0], p = x.shape[1], np = x.shape[2] * x.shape[3];
        var src = x.is_contiguous() ? x : x.contiguous();
        var w = weight.is_contiguous() ? weight : weight.contiguous();
        var add = addend is null || addend.is_contiguous() ? addend : addend.contiguous();
        var y = empty_like(src);
        float b = bias is null ? 0f : bias.item<float>();
        unsafe
        {
            var job = new Job { X = Ptr(src), Weight = Ptr(w), Add = add is null ? null : Ptr(add), Y = Ptr(y), Bias = b, Channels = p, Positions = np };
            long tiles = (np + Tile - 1) / Tile;
            OpenMpTeam.For(0L, batch * tiles, TorchRuntime.KernelParallelism, i => job.Run(i / tiles, i % tiles * Tile));
        }
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The slow twin: conv2d, sigmoid, multiply (and add) as tensor ops.</summary>
    public static Tensor ApplyReference(Tensor x, Tensor weight, Tensor? bias, Tensor? addend = null)
    {
        Check(x, weight, bias, addend);
        using var scope = NewDisposeScope();
        var y = sigmoid(nn.functional.conv2d(x, weight, bias)) * x;
        return (addend is null ? y : y.Plus(addend)).MoveToOuterDisposeScope();
    }

    unsafe struct Job
    {
        public float* X, Weight, Add, Y;
        public float Bias;
        public long Channels, Positions;

        /// <summary>Positions [p0, p0 + Tile) of one image: the gate over all channels, then every channel scaled.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // skip tier-0 (docs/architecture.md §6)
        public readonly void Run(long batch, long p0)
        {
            long np = Positions, pc = Channels, n = Math.Min(Tile, np - p0), vecs = n / W;
            float* x = X + batch * pc * np + p0, y = Y + batch * pc * np + p0;
            float* add = Add == null ? null : Add + batch * pc * np + p0;
            var gate = stackalloc Vector256<float>[Tile / W];
            var tail = stackalloc float[W];
            var bias = Vector256.Create(Bias);
            for (long v = 0; v < vecs; v++) gate[v] = bias;
            for (long t = vecs * W; t < n; t++) tail[t - vecs * W] = Bias;
            for (long c = 0; c < pc; c++)
            {
                var wc = Vector256.Create(Weight[c]);
                float* row = x + c * np;
                for (long v = 0; v < vecs; v++) gate[v] = Vector256.FusedMultiplyAdd(wc, Vector256.Load(row + v * W), gate[v]);
                for (long t = vecs * W; t < n; t++) tail[t - vecs * W] += Weight[c] * row[t];
            }
            for (long v = 0; v < vecs; v++) gate[v] = Vector256<float>.One / (Vector256<float>.One + FastMath.ExpF(-gate[v]));
            for (long t = vecs * W; t < n; t++) tail[t - vecs * W] = 1f / (1f + MathF.Exp(-tail[t - vecs * W]));
            for (long c = 0; c < pc; c++)
            {
                float* row = x + c * np, dst = y + c * np, plus = add == null ? null : add + c * np;
                for (long v = 0; v < vecs; v++)
                {
                    var g = gate[v] * Vector256.Load(row + v * W);
                    if (plus != null) g += Vector256.Load(plus + v * W);
                    g.Store(dst + v * W);
                }
                for (long t = vecs * W; t < n; t++)
                    dst[t] = tail[t - vecs * W] * row[t] + (plus == null ? 0f : plus[t]);
            }
        }
    }

    static void Check(Tensor x, Tensor weight, Tensor? bias, Tensor? addend)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (x.dim() != 4)
            throw new ArgumentException($"Argument 'x' has shape {ScanArguments.Fmt(x.shape)}; expected (batch, P, H, W).", nameof(x));
        long p = x.shape[1];
        if (!weight.shape.SequenceEqual([1, p, 1, 1]))
            throw new ArgumentException($"Argument 'weight' has shape {ScanArguments.Fmt(weight.shape)}; expected [1, {p}, 1, 1] (Conv2d(P, 1, 1)).", nameof(weight));
        if (bias is not null && !bias.shape.SequenceEqual([1L]))
            throw new ArgumentException($"Argument 'bias' has shape {ScanArguments.Fmt(bias.shape)}; expected [1].", nameof(bias));
        if (addend is not null && !addend.shape.SequenceEqual(x.shape))
            throw new ArgumentException($"Argument 'addend' has shape {ScanArguments.Fmt(addend.shape)}; expected {ScanArguments.Fmt(x.shape)}, the shape of x.", nameof(addend));
    }

    static unsafe float* Ptr(Tensor t) => SelectiveScanCpu.Ptr<float>(t);
}
