using TorchSharp;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class ChannelMajorProjectionTests
{
    /// <summary>
    /// Output and both gradients of y = W·x (torch.matmul's broadcast) against the float64 definition, on our kernels
    /// (choice Ours): SS2D's grouped shapes (routes as groups, small N or K), a view that narrows K as dt_projs reads
    /// x_proj's output, and a 2-D weight over a batch.
    /// </summary>
    [SkippableTheory]
    [InlineData(new long[] { 4, 8, 96 }, new long[] { 2, 4, 96, 300 }, 0)]       // x_proj: G = 4 routes, N = R + 2N = 8
    [InlineData(new long[] { 4, 96, 6 }, new long[] { 2, 4, 8, 49 }, 6)]         // dt_projs on the first R = 6 rows of x_proj's output
    [InlineData(new long[] { 2, 26, 40 }, new long[] { 3, 2, 40, 17 }, 0)]       // two routes (cascade), odd sizes
    [InlineData(new long[] { 48, 24 }, new long[] { 3, 24, 197 }, 0)]            // 2-D weight over a batch (Mamba's dt_proj)
    public void Output_and_gradients_match_the_float64_definition(long[] wShape, long[] xShape, long narrowTo)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        using var kernels = KernelOptions.Use(KernelOptions.Current with { Choice = KernelChoice.Ours });
        var w = (randn(wShape) / Math.Sqrt(wShape[^1])).requires_grad_();
        var source = randn(xShape).requires_grad_();
        var x = narrowTo > 0 ? source.narrow(-2, 0, narrowTo) : source;
        Assert.True(ChannelMajorProjection.Applies(w, x));
        var y = ChannelMajorProjection.Apply(w, x);
        var gy = randn(y.shape);
        y.backward([gy]);

        var w64 = w.detach().to_type(ScalarType.Float64).requires_grad_();
        var s64 = source.detach().to_type(ScalarType.Float64).requires_grad_();
        var x64 = narrowTo > 0 ? s64.narrow(-2, 0, narrowTo) : s64;
        var y64 = matmul(w64, x64);
        y64.backward([gy.to_type(ScalarType.Float64)]);

        long k = wShape[^1], l = xShape[^1];
        Close(y64, y, k);
        Close(s64.grad!, source.grad!, wShape[^2]);
        Close(w64.grad!, w.grad!, x.numel() / k);
        if (narrowTo > 0)
            Assert.Equal(0.0, source.grad!.narrow(-2, narrowTo, xShape[^2] - narrowTo).abs().max().item<float>());
        Assert.Equal(l, y.shape[^1]);
    }

    static void Close(Tensor expected, Tensor actual, long terms) => Float32Sums.AssertClose(expected, actual, terms);

    [Fact]
    public void Float64_or_libtorch_forced_takes_torch_matmul_with_its_autograd()
    {
        using var scope = NewDisposeScope();
        var w = randn(4, 8, 16, dtype: ScalarType.Float64).requires_grad_();
        var x = randn(2, 4, 16, 10, dtype: ScalarType.Float64).requires_grad_();
        Assert.False(ChannelMajorProjection.Applies(w, x));
        Assert.True(matmul(w, x).equal(ChannelMajorProjection.Apply(w, x)).all().item<bool>());
        Assert.All(Gradcheck.MaxRelativeError(t => ChannelMajorProjection.Apply(t[0], t[1]), [w.detach(), x.detach()], maxElements: 16),
            e => Assert.True(e < 1e-7, $"{e}"));
        using (KernelOptions.Use(KernelOptions.Current with { Choice = KernelChoice.Libtorch }))
            Assert.False(ChannelMajorProjection.Applies(randn(4, 8, 16), randn(2, 4, 16, 10)));
    }
}
