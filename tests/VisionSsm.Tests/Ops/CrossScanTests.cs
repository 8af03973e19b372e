using VisionSsm.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class CrossScanTests
{
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1 }, { 2, 3, 4, 4 }, { 1, 5, 3, 7 }, { 2, 4, 7, 2 }, { 3, 2, 1, 9 }, { 1, 16, 14, 14 }, { 2, 3, 5, 5 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Fast_scan_and_merge_equal_the_index_twins(int b, int c, int h, int w)
    {
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w);
        Assert.True(CrossScan.Scan(x).equal(CrossScan.ScanReference(x)).all().item<bool>());
        var ys = randn(b, 4, c, h * w);
        Assert.True(allclose(CrossScan.Merge(ys, h, w), CrossScan.MergeReference(ys, h, w), rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void Routes_follow_the_spec_index_formulas()
    {
        // docs/models/vmamba.md §6 step 3 on a 2×3 map holding its own row-major index: k0 = 0..5, k1 = column-major, k2/k3 reversed.
        using var scope = NewDisposeScope();
        var x = arange(6, dtype: ScalarType.Float32).view(1, 1, 2, 3);
        var xs = CrossScan.Scan(x).view(4, 6);
        float[][] expected = [[0, 1, 2, 3, 4, 5], [0, 3, 1, 4, 2, 5], [5, 4, 3, 2, 1, 0], [5, 2, 4, 1, 3, 0]];
        for (int k = 0; k < 4; k++) Assert.Equal(expected[k], xs[k].data<float>().ToArray());
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Merge_of_scan_is_four_times_the_input(int b, int c, int h, int w)
    {
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w, dtype: ScalarType.Float64);
        Assert.True(allclose(CrossScan.Merge(CrossScan.Scan(x), h, w), 4 * x, rtol: 1e-12, atol: 1e-12));
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Scan_and_merge_are_adjoint(int b, int c, int h, int w)
    {
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w, dtype: ScalarType.Float64);
        var y = randn(b, 4, c, h * w, dtype: ScalarType.Float64);
        double lhs = (CrossScan.Scan(x) * y).sum().item<double>();
        double rhs = (x * CrossScan.Merge(y, h, w)).sum().item<double>();
        Assert.Equal(lhs, rhs, 1e-9 * Math.Max(1, Math.Abs(lhs)));
    }

    [Fact]
    public void Backward_of_each_is_the_other()
    {
        using var scope = NewDisposeScope();
        int b = 2, c = 3, h = 5, w = 4;
        var x = randn(b, c, h, w, dtype: ScalarType.Float64).requires_grad_(true);
        var gy = randn(b, 4, c, h * w, dtype: ScalarType.Float64);
        (CrossScan.Scan(x) * gy).sum().backward();
        Assert.True(allclose(x.grad!, CrossScan.MergeReference(gy, h, w)));

        var ys = randn(b, 4, c, h * w, dtype: ScalarType.Float64).requires_grad_(true);
        var gx = randn(b, c, h, w, dtype: ScalarType.Float64);
        (CrossScan.Merge(ys, h, w) * gx).sum().backward();
        Assert.True(allclose(ys.grad!, CrossScan.ScanReference(gx)));
    }

    [Fact]
    public void Gradients_match_finite_differences()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 2, 3, 5, dtype: ScalarType.Float64);
        Assert.All(Gradcheck.MaxRelativeError(t => CrossScan.Scan(t[0]), [x]), e => Assert.True(e < 1e-7, $"{e}"));
        var ys = randn(1, 4, 2, 15, dtype: ScalarType.Float64);
        Assert.All(Gradcheck.MaxRelativeError(t => CrossScan.Merge(t[0], 3, 5), [ys]), e => Assert.True(e < 1e-7, $"{e}"));
    }

    [Fact]
    public void Channels_last_input_gives_the_same_routes()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 6, 5, 3);
        Assert.True(CrossScan.Scan(ChannelsLast.To(x)).equal(CrossScan.ScanReference(x)).all().item<bool>());
    }

    [Fact]
    public void Bad_shapes_are_rejected_with_the_argument_name()
    {
        using var scope = NewDisposeScope();
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => CrossScan.Scan(randn(2, 3, 4))).ParamName);
        Assert.Equal("ys", Assert.Throws<ArgumentException>(() => CrossScan.Merge(randn(1, 4, 2, 10), 3, 3)).ParamName);
        Assert.Equal("ys", Assert.Throws<ArgumentException>(() => CrossScan.Merge(randn(1, 3, 2, 9), 3, 3)).ParamName);
    }
}
