using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class OneDnnPointwiseGuardTests
{
    // The 1×1 conv written out: y[b, o, h, w] = Σ_c W[o, c] · x[b, c, h·s, w·s] + bias[o], a reference without oneDNN.
    static Tensor Reference(Tensor x, Tensor w, Tensor? bias, long stride)
    {
        var xs = x[.., .., TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
        var y = einsum("oc,bchw->bohw", w.view(w.shape[0], w.shape[1]), xs);
        return bias is null ? y : y + bias.view(1, -1, 1, 1);
    }

    [Theory]
    // AMD with an empty leaf 0x8000001D (what this project's CI VM reports): oneDNN reads zero cache sizes.
    [InlineData(true, 0x80000028u, 0x00000000u, true)]
    // AMD listing its L1 data cache (type 1, level 1) in sub-leaf 0.
    [InlineData(true, 0x80000028u, 0x00000121u, false)]
    // AMD without the leaf: oneDNN takes the legacy leaves.
    [InlineData(true, 0x8000001Au, 0x00000000u, false)]
    // Intel: oneDNN reads leaf 4 and guesses sizes when it is empty.
    [InlineData(false, 0x80000008u, 0x00000000u, false)]
    public void CacheLeafDecidesTheAutoGuard(bool amd, uint maxExtendedLeaf, uint eax, bool expected) =>
        Assert.Equal(expected, OneDnnPointwiseGuard.NoCacheSizesFrom(amd, maxExtendedLeaf, eax));

    [Theory]
    [InlineData(256, 1024, true)]
    [InlineData(1024, 256, true)]
    [InlineData(512, 1024, true)]
    [InlineData(1024, 512, true)]
    [InlineData(512, 2048, true)]
    [InlineData(2048, 512, true)]
    [InlineData(1024, 2048, true)]
    [InlineData(2048, 1024, true)]
    [InlineData(256, 512, false)]
    [InlineData(1024, 1024, false)]
    [InlineData(768, 3072, false)]
    [InlineData(128, 512, false)]
    public void FaultingPairsAreResNetsBottleneckChannels(long cin, long cout, bool expected) =>
        Assert.Equal(expected, OneDnnPointwiseGuard.IsFaultingPair(cin, cout));

    [Theory]
    [InlineData(false, 1, true)]
    [InlineData(false, 2, false)]
    [InlineData(true, 1, false)]
    [InlineData(true, 2, true)]
    [InlineData(true, 3, true)]
    public void GemmFormEqualsTheConvolution(bool channelsLast, long stride, bool bias)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11 + stride);
        var x = randn(2, 6, 7, 5, dtype: ScalarType.Float64);
        if (channelsLast) x = ChannelsLast.To(x);
        var w = randn(4, 6, 1, 1, dtype: ScalarType.Float64);
        var b = bias ? randn(4, dtype: ScalarType.Float64) : null;
        var y = OneDnnPointwiseGuard.AsGemm(x, w, b, stride);
        var expected = Reference(x, w, b, stride);
        Assert.Equal(expected.shape, y.shape);
        Assert.True(allclose(y, expected, 1e-12, 1e-12), $"max diff {(y - expected).abs().max().item<double>()}");
        Assert.Equal(channelsLast, ChannelsLast.Is(y) && !y.is_contiguous());
        // A 2-D weight (Linear2d's storage) gives the same product.
        Assert.True(allclose(OneDnnPointwiseGuard.AsGemm(x, w.view(4, 6), b, stride), expected, 1e-12, 1e-12));
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void GemmFormGradientsMatchFiniteDifferences(bool channelsLast, long stride)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var x = randn(2, 3, 5, 4, dtype: ScalarType.Float64);
        var w = randn(4, 3, 1, 1, dtype: ScalarType.Float64);
        var b = randn(4, dtype: ScalarType.Float64);
        // Gradcheck perturbs contiguous inputs; the layout is made inside the function.
        var errors = Gradcheck.MaxRelativeError(
            t => OneDnnPointwiseGuard.AsGemm(channelsLast ? ChannelsLast.To(t[0]) : t[0], t[1], t[2], stride), [x, w, b]);
        Assert.All(errors, e => Assert.True(e < 1e-7, $"relative errors {string.Join(", ", errors)}"));
    }

    [Fact]
    public void RoutedConvRunsTheModulesHooks()
    {
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(256, 1024, 1, bias: false);
        var x = randn(1, 256, 3, 3);
        var seen = new List<string>();
        var pre = conv.register_forward_pre_hook((_, input) => { seen.Add("pre"); return input * 2; });
        var post = conv.register_forward_hook((_, input, output) => { seen.Add($"post {input.shape[1]}"); return output + 1; });
        using (KernelOptions.Use(KernelOptions.Parse("onednnpointwiseguard=on")))
        using (no_grad())
        {
            var y = OneDnnPointwiseGuard.Call(conv, x);
            Assert.Equal(["pre", "post 256"], seen);
            Assert.True(allclose(y, Reference(x * 2, conv.weight!, null, 1) + 1, 1e-4, 1e-4));   // the hooks' replacements took effect
        }
        pre.remove();
        post.remove();
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => OneDnnPointwiseGuard.AsGemm(randn(1, 5, 4, 4), randn(4, 6, 1, 1), null));
        Assert.Contains("(B, 6, H, W)", e.Message);
        Assert.Contains("1×1 weight", Assert.Throws<ArgumentException>(() => OneDnnPointwiseGuard.AsGemm(randn(1, 6, 4, 4), randn(4, 6, 3, 3), null)).Message);
        Assert.Throws<ArgumentException>(() => OneDnnPointwiseGuard.AsGemm(randn(1, 6, 4, 4), randn(6), null));
        Assert.Throws<ArgumentOutOfRangeException>(() => OneDnnPointwiseGuard.AsGemm(randn(1, 6, 4, 4), randn(4, 6, 1, 1), null, 0));
    }

    [Fact]
    public void OptionForcesTheGuardEitherWay()
    {
        using (KernelOptions.Use(KernelOptions.Parse("onednnpointwiseguard=on")))
        {
            Assert.True(OneDnnPointwiseGuard.Active);
            Assert.True(OneDnnPointwiseGuard.Avoids(256, 1024));
            Assert.False(OneDnnPointwiseGuard.Avoids(256, 512));
        }
        using (KernelOptions.Use(KernelOptions.Parse("onednnpointwiseguard=off")))
            Assert.False(OneDnnPointwiseGuard.Avoids(256, 1024));
        using (KernelOptions.Use(KernelOptions.Reference))
            Assert.Equal(OneDnnPointwiseGuard.CpuReportsNoCacheSizes, OneDnnPointwiseGuard.Active);
    }

    // The convs that killed the process on a VM whose cpuid lists no caches (a channels-last 1×1 conv 256 → 1024,
    // forward and backward; a stride-2 512 → 1024 projection's backward): with the default options they run and equal
    // the written-out product on every machine.
    [Fact]
    public void FaultingShapesRunThroughModulesAndAutograd()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        using var conv = nn.Conv2d(256, 1024, 1, bias: true);
        var x = ChannelsLast.To(randn(2, 256, 6, 6)).requires_grad_(true);
        var y = OneDnnPointwiseGuard.Call(conv, x);
        using (no_grad())
            Assert.True(allclose(y, Reference(x, conv.weight!, conv.bias, 1), 1e-4, 1e-4));
        y.sum().backward();
        using (no_grad())
            Assert.True(allclose(x.grad!, conv.weight!.sum(dim: 0L).view(1, 256, 1, 1).expand_as(x), 1e-4, 1e-4));

        using var projection = nn.Conv2d(512, 1024, 1, stride: 2, bias: false);
        var p = randn(2, 512, 6, 6).requires_grad_(true);
        OneDnnPointwiseGuard.Call(projection, p).sum().backward();
        Assert.Equal(new long[] { 1024, 512, 1, 1 }, projection.weight!.grad!.shape);

        // Linear2d with the conv forced (what VMamba's stage-4 MLP chose at evaluation batch 256).
        using var linear = new Linear2d(256, 1024);
        using (no_grad())
        using (KernelOptions.Use(KernelOptions.Current with { Choice = KernelChoice.Libtorch }))
        {
            var big = ChannelsLast.To(randn(80, 256, 2, 2));                      // 320 positions: above Linear2d's conv threshold
            var out1 = linear.call(big);
            Assert.True(allclose(out1, Reference(big, linear.Weight, null, 1) + linear.get_parameter("bias")!.view(1, -1, 1, 1), 1e-4, 1e-4));
        }
    }
}
