using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class BiCausalConvFunctionTests
{
    /// <summary>
    /// The float32 kernel's outputs and every gradient against the float64 tensor-op twin (libtorch's conv1d, SiLU,
    /// flips and their autograd): tails shorter than the 8-step transpose, a partial 64-channel chunk, kernels longer
    /// than the sequence, one and two directions, with and without biases.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 8, 4, 2, true)]
    [InlineData(2, 13, 24, 4, 2, true)]
    [InlineData(1, 197, 64, 4, 2, true)]    // Vim-S's length
    [InlineData(3, 9, 72, 4, 2, false)]     // Di 72: a partial 64-channel chunk
    [InlineData(2, 17, 16, 2, 2, true)]
    [InlineData(1, 3, 8, 6, 2, true)]       // kernel longer than the sequence
    [InlineData(2, 21, 16, 4, 1, true)]     // one direction
    [InlineData(1, 8, 8, 4, 1, false)]
    public void OutputsAndGradientsMatchTheFloat64Twin(int batch, int length, int di, int k, int directions, bool withBias)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 1000 + length * 10 + di + k + directions);
        var xz = randn(batch, length, 2 * di, dtype: ScalarType.Float64);
        var w = randn(di, 1, k, dtype: ScalarType.Float64) * 0.5;
        var b = withBias ? randn(di, dtype: ScalarType.Float64) * 0.5 : null;
        var wb = directions == 2 ? randn(di, 1, k, dtype: ScalarType.Float64) * 0.5 : null;
        var bb = directions == 2 && withBias ? randn(di, dtype: ScalarType.Float64) * 0.5 : null;
        var gu = randn(batch, directions * di, length, dtype: ScalarType.Float64);
        var gz = randn(batch, directions * di, length, dtype: ScalarType.Float64);
        Tensor?[] inputs = [xz, w, b, wb, bb];

        (Tensor U, Tensor Z, Tensor?[] Grads) Run(bool kernel)
        {
            var leaves = inputs.Select(t => t is null ? null : (kernel ? t.to_type(ScalarType.Float32) : t.clone()).requires_grad_(true)).ToArray();
            var (u, z) = kernel
                ? BiCausalConvFunction.Apply(leaves[0]!, leaves[1]!, leaves[2], leaves[3], leaves[4])
                : BiCausalConv.PrepareReference(leaves[0]!, leaves[1]!, leaves[2], leaves[3], leaves[4]);
            ((u * gu.to_type(u.dtype)).sum() + (z * gz.to_type(z.dtype)).sum()).backward();
            return (u.detach(), z.detach(), leaves.Select(t => t?.grad).ToArray());
        }
        var kernelRun = Run(kernel: true);
        var reference = Run(kernel: false);
        Assert.Equal(ScalarType.Float32, kernelRun.U.dtype);
        Float32Sums.AssertClose(reference.U, kernelRun.U, k);
        Float32Sums.AssertClose(reference.Z, kernelRun.Z, 1);
        string[] names = ["xz", "weight", "bias", "weightB", "biasB"];
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is null) { Assert.Null(kernelRun.Grads[i]); continue; }
            Assert.NotNull(kernelRun.Grads[i]);
            // A weight's gradient sums over batch × L; dx over 2K taps.
            long terms = i == 0 ? 2 * k + 2 : (long)batch * length;
            try { Float32Sums.AssertClose(reference.Grads[i]!, kernelRun.Grads[i]!, terms); }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"gradient of {names[i]}: {e.Message}"); }
        }
    }

    /// <summary>Only u used (no gradient reaches z): xz's z half gets zeros, the rest as the twin.</summary>
    [Fact]
    public void AnUnusedOutputContributesNothing()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var xz = randn(2, 11, 32, dtype: ScalarType.Float64);
        var w = randn(16, 1, 4, dtype: ScalarType.Float64);
        var wb = randn(16, 1, 4, dtype: ScalarType.Float64);
        var x32 = xz.to_type(ScalarType.Float32).requires_grad_(true);
        var (u, _) = BiCausalConvFunction.Apply(x32, w.to_type(ScalarType.Float32), null, wb.to_type(ScalarType.Float32));
        u.sum().backward();
        var x64 = xz.clone().requires_grad_(true);
        var (uRef, _) = BiCausalConv.PrepareReference(x64, w, null, wb, null);
        uRef.sum().backward();
        Float32Sums.AssertClose(x64.grad!, x32.grad!, 10);
        Assert.Equal(0, x32.grad!.narrow(2, 16, 16).abs().max().item<float>());
    }

    /// <summary>Float64 (the kernels are float32-only) runs the differentiable twin: its input gradient matches finite differences.</summary>
    [Fact]
    public void Float64FallsBackToTheTwinWithExactGradients()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        var w = randn(8, 1, 4, dtype: ScalarType.Float64);
        var b = randn(8, dtype: ScalarType.Float64);
        var wb = randn(8, 1, 4, dtype: ScalarType.Float64);
        var xz = randn(1, 6, 16, dtype: ScalarType.Float64);
        var errors = Gradcheck.MaxRelativeError(a =>
        {
            var (u, z) = BiCausalConvFunction.Apply(a[0], w, b, wb, null);
            return cat([u, z], 1);
        }, [xz]);
        Assert.True(errors[0] < 1e-6, $"relative error {errors[0]}");
    }

    [Fact]
    public void BadGradientShapesAreRefusedByName()
    {
        using var scope = NewDisposeScope();
        var xz = randn(1, 5, 16);
        var w = randn(8, 1, 4);
        var e = Assert.Throws<ArgumentException>(() => BiCausalConvFunction.Backward(xz, w, null, w, null, randn(1, 8, 5), null));
        Assert.Equal("dU", e.ParamName);
        Assert.Contains("[1, 16, 5]", e.Message);
    }
}
