using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using VisionSsm.Runtime;

namespace VisionSsm.Layers;

/// <summary>
/// VMamba's <c>Linear2d</c> (docs/models/vmamba.md §2): a linear layer over the channels of a (B, C, H, W) map — the
/// official code applies it as a 1×1 conv2d but stores the weight 2-D (out, in), which is the state_dict shape here.
/// Computed as a GEMM on the free NHWC view (<see cref="Ops.TokenLinear"/>) or, on large channels-last maps, as libtorch's
/// 1×1 conv2d, whichever <see cref="KernelChooser"/> measures faster for the shape, the thread count and whether a
/// backward follows: libtorch sends a 1×1 conv to oneDNN only with several threads or batches of 16 and more, so the
/// conv wins at two threads in inference but runs at half the GEMM's speed in a one-thread shard of the data-parallel
/// training step (docs/threads.md §4). Channels-last input costs no copy either way and the output is channels-last.
/// Initialisation docs/models/vmamba.md §7: trunc_normal(std 0.02), bias 0.
/// </summary>
public sealed class Linear2d : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Linear2d(long inFeatures, long outFeatures, bool hasBias = true) : base(nameof(Linear2d))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = Parameter(empty(outFeatures, inFeatures));
        bias = hasBias ? Parameter(zeros(outFeatures)) : null;
        WeightInit.TruncNormal(weight, 0.02);
        RegisterComponents();
    }

    public Tensor Weight => weight;

    /// <summary>Only inputs with more positions than this (batch × height × width) consider the 1×1 conv: the GEMM was
    /// faster on all smaller ones measured (bench: <c>vmamba --linear</c>), so single small images never pay for a
    /// measurement. Counted over the batch because the conv's oneDNN path wins at two threads on a batch of small maps
    /// (VMamba-T's 14² and 7² stages at batch 8) as it does on one large map.</summary>
    const long ConvMinPositions = 256;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InFeatures)
            throw new ArgumentException($"Linear2d expects (B, {InFeatures}, H, W); got {Ops.ScanArguments.Fmt(x.shape)}.", nameof(x));
        return UseConv(x) ? Conv(x, weight, bias) : Gemm(x, weight, bias);
    }

    Tensor Conv(Tensor x, Tensor w, Tensor? b)
    {
        if (Ops.OneDnnPointwiseGuard.Avoids(InFeatures, OutFeatures)) return Ops.OneDnnPointwiseGuard.AsGemm(x, w, b);
        using var w4 = w.view(OutFeatures, InFeatures, 1, 1);
        return nn.functional.conv2d(x, w4, b);
    }

    static Tensor Gemm(Tensor x, Tensor w, Tensor? b)
    {
        using var nhwc = x.permute(0, 2, 3, 1);
        using var y = Ops.TokenLinear.Apply(nhwc, w, b);
        return y.permute(0, 3, 1, 2);
    }

    /// <summary>
    /// The conv on large channels-last maps when the GEMM cannot run (<see cref="Ops.TokenLinear.Applies"/>) or the
    /// choice (<see cref="KernelOptions.Choice"/>: libtorch's side here is the conv) prefers it; measured per (shape
    /// class, threads, with or without backward) on the first call's own input.
    /// </summary>
    bool UseConv(Tensor x)
    {
        if (x.shape[0] * x.shape[2] * x.shape[3] <= ConvMinPositions || !Ops.ChannelsLast.Is(x)) return false;
        using (var nhwc = x.permute(0, 2, 3, 1))
            if (!Ops.TokenLinear.Applies(nhwc, weight, bias)) return true;
        bool train = is_grad_enabled() && (x.requires_grad || weight.requires_grad);
        var key = KernelChooser.Key(train ? "linear2d.train" : "linear2d", "f32", TorchRuntime.KernelParallelism.MaxDegreeOfParallelism,
            x.shape[0] * x.shape[2] * x.shape[3], InFeatures, OutFeatures);
        return !KernelChooser.Process.PreferOurs(KernelOptions.Current.Choice, key, () => Time(x, train, Gemm), () => Time(x, train, Conv));
    }

    /// <summary>One timed run of a path on detached copies: the forward, and with <paramref name="train"/> its backward too.</summary>
    void Time(Tensor x, bool train, Func<Tensor, Tensor, Tensor?, Tensor> path)
    {
        using var scope = NewDisposeScope();
        if (!train)
        {
            using (no_grad()) path(x, weight, bias);
            return;
        }
        var xl = x.detach().requires_grad_(true);
        var wl = weight.detach().requires_grad_(true);
        var bl = bias?.detach().requires_grad_(true);
        var y = path(xl, wl, bl);
        y.backward([ones_like(y)]);
    }
}
