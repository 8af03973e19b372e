using VisionSsm.Models;
using VisionSsm.Analysis;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class GambaBlockTests
{
    /// <summary>The inter-op path (branches or batch halves on the two worker threads) against the serial mixer, for
    /// every mixer, odd and even batches, faithful and fixed settings.</summary>
    [Theory]
    [InlineData(GambaMixer.Fused, 1, false, 6)]
    [InlineData(GambaMixer.Fused, 1, true, 6)]
    [InlineData(GambaMixer.Fused, 1, false, 18)]       // > 16×16 tokens: the context mask runs beside the Mamba
    [InlineData(GambaMixer.Concatenated, 1, false, 6)]
    [InlineData(GambaMixer.Concatenated, 1, true, 18)]
    [InlineData(GambaMixer.Fused, 3, false, 6)]
    [InlineData(GambaMixer.Concatenated, 2, true, 6)]
    [InlineData(GambaMixer.MhsaOnly, 2, false, 6)]
    [InlineData(GambaMixer.CellOnly, 3, false, 6)]
    public void ConcurrentInferenceEqualsSerial(GambaMixer mixer, int batch, bool fixedVariant, int side)
    {
        using var block = new GambaBlock(16, side, mixer, new GambaCellOptions(DState: 4, FixLayout: fixedVariant), heads: 2,
            registerTokens: 1, scaleAttention: fixedVariant);
        block.eval();
        using var noGrad = no_grad();
        using var x = randn(batch, 16, side, side);
        using var serial = block.ForwardSerial(x);
        using var concurrent = block.ForwardConcurrent(x);
        Assert.Equal(serial.shape, concurrent.shape);
        Assert.True(allclose(concurrent, serial, rtol: 1e-5, atol: 1e-6), $"max |Δ| {(concurrent - serial).abs().max().item<float>()}");
    }

    [Fact]
    public void InterOpIsOnlyUsedForInferenceWhenAllowed()
    {
        using var block = new GambaBlock(16, 6, cell: new GambaCellOptions(DState: 4), heads: 2);
        using var x = randn(1, 16, 6, 6);
        // Tests run libtorch on one thread, so the path is off here; with gradients on it is off whatever the threads.
        Assert.False(block.UsesInterOp(x));
        using (KernelOptions.Use(KernelOptions.Current with { InterOp = true }))
            Assert.False(block.UsesInterOp(x));   // gradients enabled (and 1 thread)
        using (KernelOptions.Use(KernelOptions.Current with { InterOp = false }))
        using (no_grad())
            Assert.False(block.UsesInterOp(x));
    }
}
