using VisionSsm.Runtime;
using TorchSharp;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

public class GemmTests
{
    static readonly ParallelOptions TwoThreads = new() { MaxDegreeOfParallelism = 2 };

    /// <summary>y = x·Wᵀ + b in float64 from the definition, as the independent reference.</summary>
    static Tensor Reference(Tensor x, Tensor w, Tensor? b)
    {
        var y = matmul(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64).t());
        return b is null ? y : y.Plus(b.to_type(ScalarType.Float64));
    }

    static void AssertClose(Tensor expected, Tensor actual, long k)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        // float32 accumulation over K terms of unit-variance products: error grows like √K·ε·|terms|.
        double tol = 1e-5 * Math.Sqrt(Math.Max(k, 1)) * 4;
        double err = (actual.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(err <= tol, $"max |Δ| = {err:E2} > {tol:E2}");
    }

    public static TheoryData<int, int, int> TailShapes()
    {
        var data = new TheoryData<int, int, int>();
        int[] ms = [1, 2, 5, 6, 7, 13, 17, 33];
        int[] ks = [1, 7, 8, 15, 16, 17, 24, 31, 33, 64];
        int[] ns = [1, 3, 4, 5, 15, 16, 17, 67, 131];
        // A covering grid without the full product: every M with every K, every N with every K.
        foreach (var k in ks)
        {
            for (int i = 0; i < ms.Length; i++) data.Add(ms[i], k, ns[(i + k) % ns.Length]);
            for (int i = 0; i < ns.Length; i++) data.Add(ms[(i * 3 + k) % ms.Length], k, ns[i]);
        }
        data.Add(197, 384, 56);
        data.Add(197, 768, 37);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(TailShapes))]
    public void KernelMatchesTheFloat64DefinitionAtTails(int m, int k, int n)
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        random.manual_seed(m * 10007 + k * 101 + n);
        var x = randn(m, k);
        var w = randn(n, k);
        var b = randn(n);
        AssertClose(Reference(x, w, b), Gemm.LinearKernel(x, w, b), k);
        AssertClose(Reference(x, w, null), Gemm.LinearKernel(x, w, null), k);
    }

    [SkippableTheory]
    [InlineData(197, 67, 37)]     // split by column tiles
    [InlineData(331, 96, 5)]      // few columns: split by row tiles
    [InlineData(61, 130, 131)]
    public void TwoThreadsMatchTheDefinition(int m, int k, int n)
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var x = randn(m, k);
        var w = randn(n, k);
        var b = randn(n);
        var two = Gemm.LinearKernel(x, w, b, TwoThreads);
        AssertClose(Reference(x, w, b), two, k);
        // Each output is computed by exactly one thread with the same instruction sequence: bitwise equal.
        Assert.True(two.eq(Gemm.LinearKernel(x, w, b, new ParallelOptions { MaxDegreeOfParallelism = 1 })).all().item<bool>());
    }

    [SkippableFact]
    public void LeadingDimsAreBatched()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 5, 40);
        var w = randn(9, 40);
        var b = randn(9);
        var y = Gemm.Linear(x, w, b);
        Assert.Equal([2L, 3, 5, 9], y.shape);
        AssertClose(Reference(x, w, b), y, 40);
        AssertClose(Reference(x, w, b), Gemm.LinearKernel(x, w, b), 40);
    }

    [SkippableFact]
    public void NonContiguousInputsAreCopiedNotMisread()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var xt = randn(48, 11).t();              // (11, 48), row stride 1
        var wt = randn(48, 7).t();               // (7, 48), a transposed weight
        var bs = randn(14).slice(0, 0, 14, 2);   // (7), stride 2
        Assert.False(xt.is_contiguous() || wt.is_contiguous() || bs.is_contiguous());
        AssertClose(Reference(xt, wt, bs), Gemm.LinearKernel(xt, wt, bs), 48);
        var xs = randn(5, 80).narrow(1, 3, 48);  // rows with a gap
        AssertClose(Reference(xs, wt, null), Gemm.LinearKernel(xs, wt, null), 48);
        AssertClose(Reference(xs, wt, bs), Gemm.Linear(xs, wt, bs), 48);
    }

    [SkippableFact]
    public void DegenerateSizes()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var b = randn(3);
        // K = 0: every output is the bias (or zero).
        Assert.True(Gemm.LinearKernel(empty(4, 0), empty(3, 0), b).eq(b.expand(4, 3)).all().item<bool>());
        Assert.True(Gemm.LinearKernel(empty(4, 0), empty(3, 0), null).eq(0).all().item<bool>());
        Assert.Equal([0L, 3], Gemm.LinearKernel(empty(0, 5), randn(3, 5), b).shape);
        Assert.Equal([4L], Gemm.LinearKernel(randn(5), randn(4, 5), null).shape);
    }

    [Fact]
    public void TheKernelIsTakenOnlyWhenItApplies()
    {
        using var scope = NewDisposeScope();
        var x = randn(7, 64);
        var w = randn(5, 64);
        Assert.Equal(Gemm.KernelSupported, Gemm.Applies(x, w, null));
        Assert.False(Gemm.Applies(randn(7, 16), randn(5, 16), null));                                   // K < MinK
        Assert.False(Gemm.Applies(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), null)); // float64
        var wg = w.clone().requires_grad_(true);
        Assert.False(Gemm.Applies(x, wg, null));                                                        // autograd needs libtorch
        using (no_grad()) Assert.Equal(Gemm.KernelSupported, Gemm.Applies(x, wg, null));
    }

    [Fact]
    public void GradientsFlowThroughTheFallback()
    {
        using var scope = NewDisposeScope();
        var x = randn(6, 40, dtype: ScalarType.Float64).requires_grad_(true);
        var w = randn(3, 40, dtype: ScalarType.Float64).requires_grad_(true);
        var b = randn(3, dtype: ScalarType.Float64).requires_grad_(true);
        Assert.All(Gradcheck.MaxRelativeError(t => Gemm.Linear(t[0], t[1], t[2]), [x, w, b]), e => Assert.True(e < 1e-6, $"{e}"));
        // float32 with a leaf needing grad: the result is part of the graph (the libtorch path), d(Σy)/dx = Σ_n W[n, :].
        var xf = randn(6, 40).requires_grad_(true);
        var wf = randn(3, 40);
        var yf = Gemm.Linear(xf, wf);
        Assert.True(yf.requires_grad);
        yf.sum().backward();
        Assert.True(allclose(xf.grad!, wf.sum(0L).expand(6, 40)));
    }

    [Fact]
    public void BadShapesNameTheArgument()
    {
        using var scope = NewDisposeScope();
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.Linear(randn(4, 5), randn(3, 6))).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Gemm.Linear(randn(4, 5), randn(5))).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Gemm.Linear(randn(4, 5), randn(3, 5), randn(4))).ParamName);
    }

    // ---- Gemm.MatMul: y (…, N, L) = W (N, K) · x (…, K, L) ----

    /// <summary>Σ_k W[g, n, k]·x[…, g, k, l] in float64 by broadcasting, independent of matmul.</summary>
    static Tensor MatMulDefinition(Tensor w, Tensor x)
    {
        var w64 = w.to_type(ScalarType.Float64).unsqueeze(-1);     // (…, N, K, 1)
        var x64 = x.to_type(ScalarType.Float64).unsqueeze(-3);     // (…, 1, K, L)
        return (w64 * x64).sum(dim: -2);
    }

    public static TheoryData<int, int, int> MatMulShapes()
    {
        var data = new TheoryData<int, int, int>();
        int[] ns = [1, 2, 5, 6, 7, 13, 56];
        int[] ks = [1, 3, 24, 33];
        int[] ls = [1, 5, 15, 16, 17, 63, 64, 65, 81, 197];
        foreach (var l in ls)
            for (int i = 0; i < ns.Length; i++) data.Add(ns[i], ks[(i + l) % ks.Length], l);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(MatMulShapes))]
    public void MatMulKernelMatchesTheDefinitionAtTails(int n, int k, int l)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(n * 10007 + k * 101 + l);
        var w = randn(n, k);
        var x = randn(k, l);
        AssertClose(MatMulDefinition(w, x), Gemm.MatMulKernel(w, x), k);
    }

    /// <summary>The 256-bit (AVX2) tiles forced, so an AVX-512 machine checks them too: 16- and 8-column tiles, the
    /// overlapping 8-column tail and the scalar columns below 8.</summary>
    [SkippableTheory]
    [MemberData(nameof(MatMulShapes))]
    public void The256BitTilesMatchTheDefinition(int n, int k, int l)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(n * 733 + k * 37 + l);
        var w = randn(n, k);
        var x = randn(2, k, l);
        var b = randn(n);
        AssertClose(MatMulDefinition(w, x), Gemm.MatMulKernel(w, x, TwoThreads, wide: false), k);
        AssertClose(Reference(x.transpose(1, 2), w, b), Gemm.LinearChannelMajorKernel(x, w, b, TwoThreads, wide: false), k);
    }

    [SkippableFact]
    public void MatMulGroupsBatchesAndViewsAlongK()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        // Vim's x_proj/dt_proj shape: both directions' weights (G = 2) against (B, G, K, L); dt_proj reads the first
        // R rows of x_proj's output as a narrow view (rows dense, batch stride larger than R·L).
        var w = randn(2, 13, 40);
        var x = randn(3, 2, 40, 70);
        AssertClose(MatMulDefinition(w, x), Gemm.MatMulKernel(w, x), 40);
        AssertClose(MatMulDefinition(w, x), Gemm.MatMul(w, x), 40);
        var dbl = randn(3, 2, 29, 70);
        var view = dbl.narrow(2, 4, 24);
        var wdt = randn(2, 9, 24);
        AssertClose(MatMulDefinition(wdt, view), Gemm.MatMulKernel(wdt, view), 24);
        var xt = randn(2, 70, 40).transpose(1, 2);   // (2, 40, 70) with column-major rows: copied
        AssertClose(MatMulDefinition(w, xt), Gemm.MatMulKernel(w, xt), 40);
        var w2 = randn(13, 40);                      // one weight for every batch
        AssertClose(MatMulDefinition(w2, x), Gemm.MatMulKernel(w2, x), 40);
    }

    [SkippableFact]
    public void MatMulTwoThreadsAreBitwiseEqualToOne()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var w = randn(2, 56, 96);
        var x = randn(2, 96, 197);
        var two = Gemm.MatMulKernel(w, x, TwoThreads);
        AssertClose(MatMulDefinition(w, x), two, 96);
        Assert.True(two.eq(Gemm.MatMulKernel(w, x, new ParallelOptions { MaxDegreeOfParallelism = 1 })).all().item<bool>());
    }

    [SkippableFact]
    public void MatMulColumnBlockedSplitMatchesTheDefinition()
    {
        Hardware.RequireAvx2();
        // K·L·4 bytes > 512 KiB with ≥ 8 column blocks: the kernel walks column blocks (the last one 68 wide), each
        // over all row tiles including a partial one (7 = 6 + 1 rows).
        using var scope = NewDisposeScope();
        var w = randn(2, 7, 520);
        var x = randn(2, 520, 260);
        var two = Gemm.MatMulKernel(w, x, TwoThreads);
        AssertClose(MatMulDefinition(w, x), two, 520);
        Assert.True(two.eq(Gemm.MatMulKernel(w, x, new ParallelOptions { MaxDegreeOfParallelism = 1 })).all().item<bool>());
        var wl = randn(13, 520);
        var b = randn(13);
        AssertClose(Reference(x.transpose(1, 2), wl, b), Gemm.LinearChannelMajorKernel(x, wl, b, TwoThreads), 520);
    }

    [Fact]
    public void MatMulFallsBackForGradientsAndRejectsBadShapes()
    {
        using var scope = NewDisposeScope();
        var w = randn(5, 8).requires_grad_(true);
        var x = randn(8, 20);
        Assert.False(Gemm.MatMulApplies(w, x));
        var y = Gemm.MatMul(w, x);
        Assert.True(y.requires_grad);
        y.sum().backward();
        Assert.True(allclose(w.grad!, x.sum(1L).expand(5, 8)));
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.MatMul(randn(5, 8), randn(7, 20))).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.MatMul(randn(2, 5, 8), randn(3, 8, 20))).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Gemm.MatMul(randn(8), randn(8, 20))).ParamName);
    }

    // ---- Gemm.LinearChannelMajor: linear on channel-major activations, token-major result ----

    [SkippableTheory]
    [MemberData(nameof(MatMulShapes))]
    public void LinearChannelMajorMatchesTheDefinition(int n, int k, int l)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(n * 7919 + k * 31 + l);
        var xT = randn(2, k, l);
        var w = randn(n, k);
        var b = randn(n);
        var expected = Reference(xT.transpose(1, 2), w, b);   // linear on the token-major view, in float64
        AssertClose(expected, Gemm.LinearChannelMajorKernel(xT, w, b), k);
        AssertClose(Reference(xT.transpose(1, 2), w, null), Gemm.LinearChannelMajorKernel(xT, w, null), k);
    }

    [SkippableFact]
    public void LinearChannelMajorTwoThreadsViewsAndFallback()
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        var xT = randn(1, 100, 197).narrow(1, 4, 96);   // (1, 96, 197) view along K
        var w = randn(40, 96);
        var b = randn(40);
        var two = Gemm.LinearChannelMajorKernel(xT, w, b, TwoThreads);
        AssertClose(Reference(xT.transpose(1, 2), w, b), two, 96);
        Assert.True(two.eq(Gemm.LinearChannelMajorKernel(xT, w, b, new ParallelOptions { MaxDegreeOfParallelism = 1 })).all().item<bool>());
        AssertClose(Reference(xT.transpose(1, 2), w, b), Gemm.LinearChannelMajor(xT, w, b), 96);
        var bg = b.clone().requires_grad_(true);
        var y = Gemm.LinearChannelMajor(xT, w, bg);      // a bias needing grad: libtorch, in the graph
        Assert.True(y.requires_grad);
        Assert.Equal("xT", Assert.Throws<ArgumentException>(() => Gemm.LinearChannelMajor(randn(2, 95, 7), w)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Gemm.LinearChannelMajor(xT, w, randn(41))).ParamName);
    }
}
