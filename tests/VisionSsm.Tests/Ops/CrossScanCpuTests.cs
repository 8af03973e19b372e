using VisionSsm.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary><see cref="CrossScanCpu"/>'s one-pass kernels against <see cref="CrossScan"/>'s index-list twins.</summary>
public class CrossScanCpuTests
{
    /// <summary>Shapes for the kernels: C a multiple of 8; L = H·W below 8, a multiple of 8, and with 1–7 positions after
    /// the last whole 8-position tile; square maps and non-square ones both ways.</summary>
    public static TheoryData<int, int, int, int> KernelShapes => new()
    {
        { 1, 8, 1, 1 }, { 2, 8, 2, 3 }, { 1, 16, 3, 4 }, { 2, 8, 4, 4 }, { 1, 24, 5, 5 }, { 2, 16, 7, 7 }, { 1, 8, 3, 9 },
        { 1, 16, 9, 3 }, { 2, 32, 14, 14 }, { 1, 8, 8, 5 },
    };

    [Theory, MemberData(nameof(KernelShapes))]
    public void Channels_last_kernels_equal_the_index_twins(int b, int c, int h, int w)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var x = ChannelsLast.To(randn(b, c, h, w));
        Assert.True(CrossScanCpu.SupportsMap(x));
        Assert.True(CrossScan.Scan(x).equal(CrossScan.ScanReference(x)).all().item<bool>());
        var ys = randn(b, 4, c, h * w);
        Assert.True(CrossScanCpu.SupportsRoutes(ys));
        var y = CrossScan.Merge(ys, h, w);
        Assert.True(ChannelsLast.Is(y));
        // (route 0 + route 2) + (route 1 + route 3) at each pixel in both, so the sums agree to rounding.
        Assert.True(allclose(y, CrossScan.MergeReference(ys, h, w), rtol: 1e-6, atol: 1e-6));
    }

    [Theory, MemberData(nameof(KernelShapes))]
    public void Channels_last_kernels_have_the_twins_gradients(int b, int c, int h, int w)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var x = ChannelsLast.To(randn(b, c, h, w)).requires_grad_(true);
        var gy = randn(b, 4, c, h * w);
        (CrossScan.Scan(x) * gy).sum().backward();
        Assert.True(allclose(x.grad!, CrossScan.MergeReference(gy, h, w), rtol: 1e-6, atol: 1e-6));

        var ys = randn(b, 4, c, h * w).requires_grad_(true);
        var gx = ChannelsLast.To(randn(b, c, h, w));
        (CrossScan.Merge(ys, h, w) * gx).sum().backward();
        Assert.True(ys.grad!.equal(CrossScan.ScanReference(gx)).all().item<bool>());
    }

    [Fact]
    public void A_view_into_a_larger_batch_reads_its_own_images()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var x = ChannelsLast.To(randn(4, 8, 5, 6)).narrow(0, 1, 2);             // storage offset of one image
        Assert.True(CrossScanCpu.SupportsMap(x));
        Assert.True(CrossScan.Scan(x).equal(CrossScan.ScanReference(x)).all().item<bool>());
        var ys = randn(3, 4, 8, 30).narrow(0, 1, 2);
        Assert.True(allclose(CrossScan.Merge(ys, 5, 6), CrossScan.MergeReference(ys, 5, 6), rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void Other_layouts_and_channel_counts_stay_on_the_libtorch_copies()
    {
        using var scope = NewDisposeScope();
        Assert.False(CrossScanCpu.SupportsMap(randn(1, 8, 4, 4)));                              // NCHW
        Assert.False(CrossScanCpu.SupportsMap(ChannelsLast.To(randn(1, 12, 4, 4))));            // C not a multiple of 8
        Assert.False(CrossScanCpu.SupportsMap(ChannelsLast.To(randn(1, 8, 4, 4, dtype: ScalarType.Float64))));
        Assert.False(CrossScanCpu.SupportsRoutes(randn(1, 4, 12, 16)));
        var x = ChannelsLast.To(randn(2, 12, 3, 5));
        Assert.True(CrossScan.Scan(x).equal(CrossScan.ScanReference(x)).all().item<bool>());
        var ys = randn(2, 4, 12, 15);
        Assert.True(allclose(CrossScan.Merge(ys, 3, 5), CrossScan.MergeReference(ys, 3, 5), rtol: 1e-6, atol: 1e-6));
    }
}
