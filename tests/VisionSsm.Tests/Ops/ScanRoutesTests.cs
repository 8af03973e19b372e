using VisionSsm.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class ScanRoutesTests
{
    [Theory]
    [InlineData(ScanPattern.Cross)]
    [InlineData(ScanPattern.Unidirectional)]
    [InlineData(ScanPattern.Bidirectional)]
    public void Unrolling_equals_the_index_twin_and_merge_is_its_adjoint(ScanPattern pattern)
    {
        using var scope = NewDisposeScope();
        foreach (var (h, w) in new[] { (1, 1), (3, 4), (5, 2) })
        {
            var x = randn(2, 3, h, w, dtype: ScalarType.Float64);
            Assert.True(ScanRoutes.Scan(x, pattern).equal(ScanRoutes.ScanReference(x, pattern)).all().item<bool>());
            var ys = randn(2, 4, 3, h * w, dtype: ScalarType.Float64);
            Assert.True(allclose(ScanRoutes.Merge(ys, h, w, pattern), ScanRoutes.MergeReference(ys, h, w, pattern), rtol: 1e-12, atol: 1e-12));
            double lhs = (ScanRoutes.Scan(x, pattern) * ys).sum().item<double>();
            double rhs = (x * ScanRoutes.Merge(ys, h, w, pattern)).sum().item<double>();
            Assert.Equal(lhs, rhs, 1e-9 * Math.Max(1, Math.Abs(lhs)));
        }
    }
}
