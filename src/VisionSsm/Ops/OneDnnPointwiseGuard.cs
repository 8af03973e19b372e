using System.Runtime.Intrinsics.X86;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// Keeps 1×1 convolutions away from a oneDNN fault that kills the process with SIGFPE (docs/reliability.md, "oneDNN's 1×1 convolutions on CPUs that report no cache sizes").
/// <para>oneDNN's brgemm 1×1 convolution (libtorch 2.10's <c>mkldnn_convolution</c>, forward and backward) sizes its
/// blocks from the per-core L1/L2 cache sizes it reads with <c>cpuid</c>; for five channel pairs of ResNet-50's
/// bottlenecks its efficiency estimate (<c>brg_blocking_t::est_eff_1x1</c>, the "maskrcnn" heuristic) divides by a
/// block count that is zero when those cache sizes are zero. On AMD CPUs oneDNN reads the sizes from leaf
/// 0x8000001D, which some hypervisors leave empty: there every channels-last 1×1 conv with those channels, and the
/// backward of channels-first ones, divides by zero.</para>
/// <para>Where the guard is on (<see cref="KernelOptions.OneDnnPointwiseGuard"/>: auto = on such CPUs), those convs
/// run as the GEMM they are (<see cref="AsGemm"/>); every other conv, and every conv elsewhere, is libtorch's.</para>
/// </summary>
public static class OneDnnPointwiseGuard
{
    /// <summary>
    /// The unordered (in, out) channel pairs of oneDNN's heuristic: the forward's (1024, 2048), (1024, 512), (256, 1024),
    /// (512, 1024), (512, 2048), and their reverses, which the backward's data-gradient convolution runs.
    /// </summary>
    static readonly (long, long)[] Pairs = [(256, 1024), (512, 1024), (512, 2048), (1024, 2048)];

    static readonly Lazy<bool> NoCacheSizes = new(ReadCpu);

    /// <summary>True when this CPU gives oneDNN no cache sizes (an AMD CPU whose cpuid leaf 0x8000001D lists no cache).</summary>
    public static bool CpuReportsNoCacheSizes => NoCacheSizes.Value;

    /// <summary>Whether the guard is on here: the option, or with auto whether <see cref="CpuReportsNoCacheSizes"/>.</summary>
    public static bool Active => KernelOptions.Current.OneDnnPointwiseGuard ?? CpuReportsNoCacheSizes;

    /// <summary>The decision from cpuid values (kept pure for tests): AMD, leaf 0x8000001D present, and its sub-leaf 0
    /// (the L1 data cache) of cache type 0, "no more caches".</summary>
    public static bool NoCacheSizesFrom(bool amd, uint maxExtendedLeaf, uint leaf8000001DSub0Eax) =>
        amd && maxExtendedLeaf >= 0x8000001D && (leaf8000001DSub0Eax & 0x1F) == 0;

    static bool ReadCpu()
    {
        if (!X86Base.IsSupported) return false;
        var (_, b, c, d) = X86Base.CpuId(0, 0);
        bool amd = b == 0x68747541 && d == 0x69746E65 && c == 0x444D4163;       // "AuthenticAMD"
        uint maxExtended = (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax;
        uint eax = maxExtended >= 0x8000001D ? (uint)X86Base.CpuId(unchecked((int)0x8000001D), 0).Eax : 0;
        return NoCacheSizesFrom(amd, maxExtended, eax);
    }

    /// <summary>True when a 1×1 conv from <paramref name="inChannels"/> to <paramref name="outChannels"/> must avoid oneDNN here.</summary>
    public static bool Avoids(long inChannels, long outChannels) => Active && IsFaultingPair(inChannels, outChannels);

    /// <summary>True for the channel pairs oneDNN's heuristic divides by zero on (either order).</summary>
    public static bool IsFaultingPair(long inChannels, long outChannels) =>
        Pairs.Any(p => (p.Item1 == inChannels && p.Item2 == outChannels) || (p.Item1 == outChannels && p.Item2 == inChannels));

    /// <summary><c>conv.call(x)</c>, computed as <see cref="AsGemm"/> (hooks included) when it is a plain 1×1 conv the
    /// guard keeps from oneDNN, else the module's own call.</summary>
    public static Tensor Call(Conv2d conv, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(conv);
        ArgumentNullException.ThrowIfNull(x);
        var w = conv.weight!;
        // The cheap test first: elsewhere (the guard off, or other channels) every call goes straight to the module.
        if (w.dim() != 4 || !Avoids(w.shape[1], w.shape[0])) return conv.call(x);
        bool plain1x1 = w.shape[2] == 1 && w.shape[3] == 1 && conv.groups == 1
            && (conv.padding ?? []).All(p => p == 0) && conv.dilation.All(d => d == 1) && conv.stride.Distinct().Count() == 1;
        if (!plain1x1) return conv.call(x);
        // The module's hooks still run, so observers (Analysis/FlopCounter) count the conv whichever way it ran.
        return ModuleCall.WithForward(conv, x, input => AsGemm(input, w, conv.bias, conv.stride[0]));
    }

    /// <summary>
    /// A 1×1 conv (weight (C_out, C_in, 1, 1) or (C_out, C_in), no padding, one group) with the given stride as a matrix
    /// product over the channels of the strided map, differentiable: channels-last input as a linear layer on its NHWC
    /// view (channels-last output), any other as W · x over (batch, C_in, H·W) (channel-first output).
    /// </summary>
    public static Tensor AsGemm(Tensor x, Tensor weight, Tensor? bias, long stride = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() is not (2 or 4) || (weight.dim() == 4 && (weight.shape[2] != 1 || weight.shape[3] != 1)))
            throw new ArgumentException($"AsGemm: expected a 1×1 weight (C_out, C_in[, 1, 1]); got {ScanArguments.Fmt(weight.shape)}.", nameof(weight));
        long cout = weight.shape[0], cin = weight.shape[1];
        if (x.dim() != 4 || x.shape[1] != cin)
            throw new ArgumentException($"AsGemm: expected x (B, {cin}, H, W) for a weight {ScanArguments.Fmt(weight.shape)}; got {ScanArguments.Fmt(x.shape)}.", nameof(x));
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "expected a stride ≥ 1.");
        using var scope = NewDisposeScope();
        bool channelsLast = ChannelsLast.Is(x);
        var xs = stride == 1 ? x : x[.., .., TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
        var w2 = weight.view(cout, cin);
        Tensor y;
        if (channelsLast)
            y = nn.functional.linear(xs.permute(0, 2, 3, 1), w2, bias).permute(0, 3, 1, 2);
        else
        {
            long b = xs.shape[0], h = xs.shape[2], wd = xs.shape[3];
            y = matmul(w2, xs.reshape(b, cin, h * wd));
            if (bias is not null) y = y + bias.view(cout, 1);
            y = y.view(b, cout, h, wd);
        }
        return y.MoveToOuterDisposeScope();
    }
}
