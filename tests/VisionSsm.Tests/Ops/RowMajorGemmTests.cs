using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class RowMajorGemmTests
{
    static readonly ParallelOptions One = new() { MaxDegreeOfParallelism = 1 };
    static readonly ParallelOptions Two = new() { MaxDegreeOfParallelism = 2 };

    /// <summary>C = op(A)·B in float64 from the definition, the independent reference.</summary>
    static Tensor Definition(Tensor a, Tensor b, bool transposeA)
    {
        var a64 = a.to_type(ScalarType.Float64);
        return matmul(transposeA ? a64.t() : a64, b.to_type(ScalarType.Float64));
    }

    static void AssertClose(Tensor expected, Tensor actual, long k)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        double tol = 4e-6 * Math.Sqrt(Math.Max(k, 1)) * 4;   // float32 sums of K unit-variance products
        double err = (actual.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(err <= tol, $"max |Δ| = {err:E2} > {tol:E2}");
    }

    /// <summary>
    /// Row tails (M % 6), every column-tile mix (N = 16·{1…8}: 64-, 32- and 16-wide tiles), reductions shorter than,
    /// equal to and across the 256-row blocks.
    /// </summary>
    public static TheoryData<int, int, int> Shapes()
    {
        var data = new TheoryData<int, int, int>();
        int[] ms = [1, 5, 6, 7, 13, 41];
        int[] ks = [1, 3, 16, 255, 256, 257, 600];
        int[] ns = [16, 32, 48, 64, 80, 96, 112, 128];
        for (int i = 0; i < ks.Length; i++)
        {
            foreach (var m in ms) data.Add(m, ks[i], ns[(i + m) % ns.Length]);
            foreach (var n in ns) data.Add(ms[(i + n / 16) % ms.Length], ks[i], n);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void Product_matches_the_float64_definition(int m, int k, int n)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(m * 7919 + k * 31 + n);
        var a = randn(m, k);
        var at = randn(k, m);
        var b = randn(k, n);
        AssertClose(Definition(a, b, false), RowMajorGemm.Multiply(a, b), k);
        AssertClose(Definition(at, b, true), RowMajorGemm.Multiply(at, b, transposeA: true), k);
    }

    /// <summary>The 256-bit (AVX2) tiles forced, so an AVX-512 machine checks them too (16- and 8-column tiles, tail rows).</summary>
    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void The256BitTilesMatchTheFloat64Definition(int m, int k, int n)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(m * 131 + k * 17 + n);
        var a = randn(m, k);
        var at = randn(k, m);
        var b = randn(k, n);
        AssertClose(Definition(a, b, false), RowMajorGemm.Multiply(a, b, false, One, wide: false), k);
        AssertClose(Definition(at, b, true), RowMajorGemm.Multiply(at, b, true, Two, wide: false), k);
    }

    /// <summary>
    /// Outputs wider than one column block (<see cref="RowMajorGemm.ColumnBlock"/> = 256) with a ragged last block, a
    /// reduction across the 256-row blocks, and the bias row added in the accumulators' start — on both tile widths,
    /// both layouts of A, one and two threads.
    /// </summary>
    [SkippableTheory]
    [InlineData(7, 40, 272)]
    [InlineData(13, 300, 336)]
    [InlineData(50, 257, 528)]
    [InlineData(1, 16, 784)]
    [InlineData(9, 0, 288)]
    public void Wide_outputs_with_a_bias_match_the_float64_definition(int m, int k, int n)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(m * 17 + k * 5 + n);
        var a = randn(m, k);
        var at = randn(k, m);
        var b = randn(k, n);
        var bias = randn(n);
        var bias64 = bias.to_type(ScalarType.Float64);
        foreach (bool? wide in VisionSsm.Ops.Gemm.KernelSupported ? new bool?[] { true, false } : [false])
            foreach (var threads in new[] { One, Two })
            {
                AssertClose(Definition(a, b, false) + bias64, RowMajorGemm.Multiply(a, b, false, threads, wide, bias), k);
                AssertClose(Definition(at, b, true) + bias64, RowMajorGemm.Multiply(at, b, true, threads, wide, bias), k);
                AssertClose(Definition(a, b, false), RowMajorGemm.Multiply(a, b, false, threads, wide), k);
            }
    }

    /// <summary>The dispatching entry gives the product whichever side runs, forced either way.</summary>
    [SkippableTheory]
    [InlineData(VisionSsm.Runtime.KernelChoice.Ours)]
    [InlineData(VisionSsm.Runtime.KernelChoice.Libtorch)]
    public void Product_computes_the_same_product_on_either_side(VisionSsm.Runtime.KernelChoice choice)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        using var _ = VisionSsm.Runtime.KernelOptions.Use(VisionSsm.Runtime.KernelOptions.Current with { Choice = choice });
        var a = randn(37, 70);
        var b = randn(70, 48);
        AssertClose(Definition(a, b, false), RowMajorGemm.Product(a, b), 70);
        var dy = randn(37, 32);
        var x = randn(37, 64);
        AssertClose(Definition(dy, x, true), RowMajorGemm.Product(dy, x, transposeA: true), 37);
        var bias = randn(48);
        AssertClose(Definition(a, b, false) + bias.to_type(ScalarType.Float64), RowMajorGemm.Product(a, b, bias: bias), 70);
    }

    [SkippableTheory]
    [InlineData(1000, 300, 96, false)]
    [InlineData(40, 700, 48, true)]       // a few output rows over a long reduction: dW's shape
    public void Two_threads_give_the_same_bits_as_one(int m, int k, int n, bool transposeA)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var a = transposeA ? randn(k, m) : randn(m, k);
        var b = randn(k, n);
        var two = RowMajorGemm.Multiply(a, b, transposeA, Two);
        AssertClose(Definition(a, b, transposeA), two, k);
        Assert.True(two.eq(RowMajorGemm.Multiply(a, b, transposeA, One)).all().item<bool>());
    }

    [SkippableFact]
    public void Strided_operands_are_read_as_their_values()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var a = randn(30, 20).t();            // (20, 30), not contiguous
        var b = randn(64, 30).t();            // (30, 64)
        AssertClose(Definition(a, b, false), RowMajorGemm.Multiply(a, b), 30);
    }

    [SkippableFact]
    public void Empty_reductions_give_zeros()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var c = RowMajorGemm.Multiply(empty(4, 0), empty(0, 32));
        Assert.Equal([4L, 32], c.shape);
        Assert.Equal(0, c.abs().sum().item<float>());
    }

    [SkippableFact]
    public void Bad_operands_are_refused_by_name()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => RowMajorGemm.Multiply(randn(4, 8), randn(8, 20)));
        Assert.Contains("multiple of 16", e.Message);
        e = Assert.Throws<ArgumentException>(() => RowMajorGemm.Multiply(randn(4, 8), randn(9, 16)));
        Assert.Equal("b", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => RowMajorGemm.Multiply(randn(4, 8), randn(8, 16), bias: randn(15)));
        Assert.Equal("bias", e.ParamName);
        Assert.False(RowMajorGemm.Applies(randn(4, 8, dtype: ScalarType.Float64), randn(8, 16, dtype: ScalarType.Float64)));
    }
}
