using VisionSsm.Analysis;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Analysis;

public class EffectiveReceptiveFieldTests
{
    /// <summary>k 3×3 stride-1 convolutions (padding 1, no bias), float64, weights from <paramref name="weight"/>.</summary>
    static Func<Tensor, Tensor> ConvStack(int k, int channels, Func<long[], Tensor> weight)
    {
        var weights = Enumerable.Range(0, k).Select(i => weight([channels, i == 0 ? 1 : channels, 3, 3])).ToList();
        return x =>
        {
            foreach (var w in weights) x = nn.functional.conv2d(x, w, padding: [1, 1]);
            return x;
        };
    }

    static void AssertWindow(double[] map, int side, int k, bool nonZeroInside)
    {
        int c = side / 2;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                bool inside = Math.Abs(y - c) <= k && Math.Abs(x - c) <= k;
                double v = map[y * side + x];
                if (!inside) Assert.True(v == 0, $"k={k}: ({y}, {x}) outside the {2 * k + 1}² window has {v}");
                else if (nonZeroInside) Assert.True(v > 0, $"k={k}: ({y}, {x}) inside the {2 * k + 1}² window is {v}");
            }
    }

    /// <summary>
    /// The centre unit of k stacked 3×3 convolutions sees exactly the (2k+1)² window around it: with positive weights
    /// and inputs every pixel there contributes (relu of a positive gradient) and nothing outside does.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void ConvolutionStackSeesExactlyItsWindow(int k)
    {
        using var scope = NewDisposeScope();
        var f = ConvStack(k, 3, s => rand(s, dtype: ScalarType.Float64).PlusScalarHelper(0.1));
        var inputs = Enumerable.Range(0, 3).Select(_ => rand([1, 1, 21, 21], dtype: ScalarType.Float64)).ToList();
        var erf = EffectiveReceptiveField.Compute(f, inputs);
        Assert.Equal((21, 21, 3, 0), (erf.Height, erf.Width, erf.Images, erf.Skipped));
        AssertWindow(erf.Values, 21, k, nonZeroInside: true);
    }

    /// <summary>Random-sign weights: |gradient| is non-zero throughout the window, zero outside; relu never leaks outside.</summary>
    [Fact]
    public void SignedWeightsKeepTheWindow()
    {
        using var scope = NewDisposeScope();
        var f = ConvStack(3, 4, s => randn(s, dtype: ScalarType.Float64));
        var x = randn([2, 1, 17, 17], dtype: ScalarType.Float64);
        AssertWindow(EffectiveReceptiveField.Contribution(f, x, ErfGradient.Abs), 17, 3, nonZeroInside: true);
        AssertWindow(EffectiveReceptiveField.Contribution(f, x, ErfGradient.Relu), 17, 3, nonZeroInside: false);
    }

    /// <summary>The mean over inputs is the mean of the per-input maps (a linear map's gradient is the same for every input).</summary>
    [Fact]
    public void AveragesOverInputs()
    {
        using var scope = NewDisposeScope();
        var w = ones([1, 1, 3, 3], dtype: ScalarType.Float64);
        Tensor F(Tensor x) => nn.functional.conv2d(x, w, padding: [1, 1]);
        // Centre output = sum of the 3×3 window ≥ 0 for positive inputs: d/dx = 1 there; 0 for negative inputs (relu of the output).
        var erf = EffectiveReceptiveField.Compute(F, [ones([1, 1, 5, 5], dtype: ScalarType.Float64), ones([1, 1, 5, 5], dtype: ScalarType.Float64).neg()]);
        Assert.Equal(0.5, erf[2, 2], 12);
        Assert.Equal(0.5, erf[1, 3], 12);
        Assert.Equal(0.0, erf[0, 0]);
    }

    /// <summary>
    /// A uniform 10×10 map: the centred squares of side 3, 5, 7, 9 hold 9, 25, 49, 81 of 100, so 20% needs side 5
    /// (0.25 of the area), 30% side 7 (0.49), 50% side 9 (0.81), 99% no square short of the image.
    /// </summary>
    [Fact]
    public void AreaRatiosOfAUniformMap()
    {
        var r = EffectiveReceptiveField.AreaRatios(Enumerable.Repeat(1.0, 100).ToArray(), 10, 10);
        Assert.Equal([0.2, 0.3, 0.5, 0.99], r.Select(a => a.Threshold));
        Assert.Equal([5, 7, 9, (int?)null], r.Select(a => a.Side));
        Assert.Equal(0.25, r[0].Ratio!.Value, 12);
        Assert.Equal(0.49, r[1].Ratio!.Value, 12);
        Assert.Equal(0.81, r[2].Ratio!.Value, 12);
        Assert.Null(r[3].Ratio);
    }

    /// <summary>
    /// A 9×9 map with 60 at the centre pixel and 1.25 on the 32 pixels of the outer ring (total 100): side 3 already holds 60%
    /// (> 20, 30, 50%), 99% needs the ring, which no square short of the image reaches; the strict "&gt;" matters at 60%.
    /// </summary>
    [Fact]
    public void AreaRatiosOfAPeakedMap()
    {
        var m = new double[81];
        m[4 * 9 + 4] = 60;
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 9; x++)
                if (y is 0 or 8 || x is 0 or 8) m[y * 9 + x] = 1.25;
        var r = EffectiveReceptiveField.AreaRatios(m, 9, 9, [0.2, 0.5, 0.6, 0.99]);
        Assert.Equal([3, 3, (int?)null, null], r.Select(a => a.Side));
        Assert.Equal(9.0 / 81, r[0].Ratio!.Value, 12);
    }

    [Fact]
    public void LogScaledIsLog10OfOnePlusOverItsMaximum()
    {
        var s = EffectiveReceptiveField.LogScaled([0, 9, 99, 999]);
        double[] expected = [0, 1 / 3.0, 2 / 3.0, 1];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], s[i], 12);
        Assert.Equal([0.0, 0.0], EffectiveReceptiveField.LogScaled([0, 0]));
    }

    [Fact]
    public void RejectsABadMapShape() =>
        Assert.Throws<ArgumentException>(() => EffectiveReceptiveField.AreaRatios([1, 2, 3], 2, 2));
}

static class TensorTestExtensions
{
    public static Tensor PlusScalarHelper(this Tensor t, double v) => VisionSsm.Runtime.Scalars.PlusScalar(t, v);
}
