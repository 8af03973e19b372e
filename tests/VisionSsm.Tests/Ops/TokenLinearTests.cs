using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class TokenLinearTests
{
    /// <summary>Output and all three gradients of y = x·Wᵀ + b against the float64 definition (autograd of a plain matmul).</summary>
    [SkippableTheory]
    [InlineData(new long[] { 7, 32 }, 16, true)]
    [InlineData(new long[] { 3, 5, 7, 48 }, 64, true)]     // (B, H, W, C): Linear2d's channels-last view
    [InlineData(new long[] { 2, 300, 128 }, 32, false)]    // reduction over 600 tokens crosses the 256-row blocks
    public void Output_and_gradients_match_the_float64_definition(long[] xShape, int n, bool withBias)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        long k = xShape[^1];
        var x = randn(xShape).requires_grad_();
        var w = (randn(n, k) / Math.Sqrt(k)).requires_grad_();
        var b = withBias ? randn(n).requires_grad_() : null;
        Assert.True(TokenLinear.Applies(x, w, b));
        var gy = randn([.. xShape[..^1], n]);

        var y = TokenLinear.Apply(x, w, b);
        y.backward([gy]);

        var x64 = x.detach().to_type(ScalarType.Float64).requires_grad_();
        var w64 = w.detach().to_type(ScalarType.Float64).requires_grad_();
        var b64 = b?.detach().to_type(ScalarType.Float64).requires_grad_();
        var y64 = matmul(x64, w64.t());
        if (b64 is not null) y64 = y64 + b64;
        y64.backward([gy.to_type(ScalarType.Float64)]);

        long tokens = x.numel() / k;
        Close(y64, y, k);
        Close(x64.grad!, x.grad!, n);
        Close(w64.grad!, w.grad!, tokens);
        if (b is not null) Close(b64!.grad!, b.grad!, tokens);
    }

    static void Close(Tensor expected, Tensor actual, long terms) => Float32Sums.AssertClose(expected, actual, terms);

    [Fact]
    public void Other_sizes_and_dtypes_take_libtorch_linear_unchanged()
    {
        using var scope = NewDisposeScope();
        using (VisionSsm.Runtime.KernelOptions.Use(VisionSsm.Runtime.KernelOptions.Current with { Choice = VisionSsm.Runtime.KernelChoice.Libtorch }))
            Assert.False(TokenLinear.Applies(randn(5, 32), randn(16, 32), null));   // libtorch forced
        var x = randn(5, 20);
        var w = randn(24, 20);                              // K = 20: not a multiple of 16
        Assert.False(TokenLinear.Applies(x, w, null));
        Assert.True(nn.functional.linear(x, w).equal(TokenLinear.Apply(x, w)).all().item<bool>());
        var x64 = randn(5, 32, dtype: ScalarType.Float64);
        var w64 = randn(16, 32, dtype: ScalarType.Float64);
        Assert.False(TokenLinear.Applies(x64, w64, null));
        Assert.True(nn.functional.linear(x64, w64).equal(TokenLinear.Apply(x64, w64)).all().item<bool>());
    }
}
