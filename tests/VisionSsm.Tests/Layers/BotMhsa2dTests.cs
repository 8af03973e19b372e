using VisionSsm.Runtime;
using TorchSharp;
using VisionSsm.Layers;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class BotMhsa2dTests
{
    /// <summary>Slow twin: energy[i, j] = Σ_d q[d,i]k[d,j] + r[d,i]q[d,j] with r[a·S+b] = rel_w[a] + rel_h[b], written
    /// element by element from the raw parameters.</summary>
    static Tensor SlowTwin(BotMhsa2d m, Tensor x, bool scale)
    {
        var sd = m.state_dict();
        int c = m.Dim, h = m.Heads, d = c / h, s = m.Side, np = s * s;
        long batch = x.shape[0];
        Tensor Proj(string n) => (einsum("oi,bihw->bohw", sd[n + ".weight"].squeeze(-1).squeeze(-1), x) + sd[n + ".bias"].view(1, -1, 1, 1)).reshape(batch, c, np);
        var q = Proj("Q"); var k = Proj("K"); var v = Proj("V");
        var relH = sd["rel_h"]; var relW = sd["rel_w"];
        var outp = zeros(batch, c, np, dtype: x.dtype);
        for (int b = 0; b < batch; b++)
        for (int head = 0; head < h; head++)
        {
            var e = new double[np, np];
            for (int i = 0; i < np; i++)
            for (int j = 0; j < np; j++)
            {
                double acc = 0;
                for (int dd = 0; dd < d; dd++)
                {
                    int ch = head * d + dd;
                    double r = relW[0, head, dd, i / s, 0].item<double>() + relH[0, head, dd, 0, i % s].item<double>();
                    acc += q[b, ch, i].item<double>() * k[b, ch, j].item<double>() + r * q[b, ch, j].item<double>();
                }
                e[i, j] = scale ? acc / Math.Sqrt(d) : acc;
            }
            for (int i = 0; i < np; i++)
            {
                double max = Enumerable.Range(0, np).Max(j => e[i, j]);
                var w = Enumerable.Range(0, np).Select(j => Math.Exp(e[i, j] - max)).ToArray();
                double z = w.Sum();
                for (int dd = 0; dd < d; dd++)
                {
                    int ch = head * d + dd;
                    double acc = 0;
                    for (int j = 0; j < np; j++) acc += w[j] / z * v[b, ch, j].item<double>();
                    outp[b, ch, i] = acc;
                }
            }
        }
        return outp.reshape(batch, c, s, s);
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public void MatchesElementwiseSlowTwin(bool scale, int registers)
    {
        var m = new BotMhsa2d(8, 3, heads: 2, registerTokens: registers, scaleLogits: scale);
        m.to(ScalarType.Float64);
        var x = randn(2, 8, 3, 3, dtype: ScalarType.Float64) * 0.5;
        Assert.True(allclose(m.call(x), SlowTwin(m, x, scale), rtol: 1e-9, atol: 1e-10));
    }

    /// <summary>The row-blocked attention (used on one libtorch thread for large maps) against the slow twin and the
    /// batched path, with blocks that do and do not divide Np, and its gradients against finite differences.</summary>
    [Theory]
    [InlineData(4, false)]
    [InlineData(9, true)]
    [InlineData(2, true)]
    public void RowBlockedAttentionMatchesSlowTwinBatchedPathAndFiniteDifferences(long rows, bool scale)
    {
        var blockedOptions = KernelOptions.Current with { MhsaRowBlock = (int)rows, MhsaRowBlocks = true };
        var m = new BotMhsa2d(8, 3, heads: 2, registerTokens: 1, scaleLogits: scale);
        m.to(ScalarType.Float64);
        var x = randn(2, 8, 3, 3, dtype: ScalarType.Float64) * 0.5;
        Tensor blocked, batched;
        using (KernelOptions.Use(blockedOptions)) blocked = m.call(x);
        using (KernelOptions.Use(blockedOptions with { MhsaRowBlocks = false })) batched = m.call(x);
        Assert.True(allclose(blocked, SlowTwin(m, x, scale), rtol: 1e-9, atol: 1e-10));
        Assert.True(allclose(blocked, batched, rtol: 1e-12, atol: 1e-13));
        var small = new BotMhsa2d(4, 2, heads: 2, scaleLogits: scale);
        small.to(ScalarType.Float64);
        using (KernelOptions.Use(blockedOptions))
        {
            var errs = Gradcheck.MaxRelativeError(t => small.call(t[0]), [randn(1, 4, 2, 2, dtype: ScalarType.Float64)]);
            Assert.True(errs[0] < 1e-6, $"relative error {errs[0]}");
        }
    }

    /// <summary>The row-blocked attention with its products on Ops.Gemm (float32 inference) against the same path on
    /// libtorch and against the batched path, with row blocks that do and do not divide Np.</summary>
    [Theory]
    [InlineData(16, false, 1)]
    [InlineData(36, true, 2)]
    [InlineData(392, false, 1)]
    public void GemmProductsMatchLibtorchProducts(long rows, bool scale, int batch)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(rows + batch);
        var m = new BotMhsa2d(64, 6, heads: 2, registerTokens: 1, scaleLogits: scale);
        var x = randn(batch, 64, 6, 6) * 0.3;
        using var _ = no_grad();
        var blockedOptions = KernelOptions.Current with { MhsaRowBlock = (int)rows, MhsaRowBlocks = true, Gemm = true };
        Tensor gemm, libtorch, batched;
        using (KernelOptions.Use(blockedOptions)) gemm = m.call(x);
        using (KernelOptions.Use(blockedOptions with { Gemm = false })) libtorch = m.call(x);
        using (KernelOptions.Use(blockedOptions with { MhsaRowBlocks = false })) batched = m.call(x);
        Assert.True(allclose(gemm, libtorch, rtol: 1e-4, atol: 1e-5), $"Gemm vs libtorch: {(gemm - libtorch).abs().max().item<float>()}");
        Assert.True(allclose(gemm, batched, rtol: 1e-4, atol: 1e-5), $"Gemm vs batched: {(gemm - batched).abs().max().item<float>()}");
    }

    /// <summary>The factorised position logits (float32 inference: pos = [rel_w; rel_h]ᵀq added in the softmax) against
    /// the [q; r]ᵀ[k; q] twin and against the elementwise slow twin in float64 on the same weights, batched and
    /// row-blocked (blocks that do and do not divide Np), with the products on libtorch and on Ops.Gemm.</summary>
    [SkippableTheory]
    [InlineData(false, false, 0, 3)]
    [InlineData(true, false, 4, 3)]
    [InlineData(false, true, 5, 3)]
    [InlineData(true, true, 9, 3)]
    [InlineData(false, true, 0, 3)]
    [InlineData(false, true, 1, 1)]
    [InlineData(true, false, 3, 2)]
    [InlineData(false, true, 7, 5)]
    public void FactorisedPositionsMatchBothTwins(bool scale, bool gemm, int rows, int side)
    {
        Hardware.RequireAvx2();
        using var scope = NewDisposeScope();
        random.manual_seed(rows * 10 + side * 100 + (scale ? 1 : 0));
        var m = new BotMhsa2d(16, side, heads: 2, registerTokens: 1, scaleLogits: scale);
        var x = randn(2, 16, side, side) * 0.5;
        var on = KernelOptions.Current with { MhsaFactorisedPositions = true, Gemm = gemm, MhsaRowBlocks = rows > 0, MhsaRowBlock = Math.Max(1, rows) };
        Tensor factorised, twin;
        using (no_grad())
        {
            using (KernelOptions.Use(on)) factorised = m.call(x);
            using (KernelOptions.Use(on with { MhsaFactorisedPositions = false })) twin = m.call(x);
        }
        Assert.True(allclose(factorised, twin, rtol: 1e-4, atol: 1e-5), $"vs [q; r]ᵀ[k; q]: {(factorised - twin).abs().max().item<float>()}");
        var m64 = new BotMhsa2d(16, side, heads: 2, registerTokens: 1, scaleLogits: scale);
        m64.load_state_dict(m.state_dict());
        m64.to(ScalarType.Float64);
        var slow = SlowTwin(m64, x.to(ScalarType.Float64), scale);
        Assert.True(allclose(factorised.to(ScalarType.Float64), slow, rtol: 1e-4, atol: 1e-5), $"vs slow twin: {(factorised.to(ScalarType.Float64) - slow).abs().max().item<double>()}");
    }

    /// <summary>An empty batch gives an empty output on both forms.</summary>
    [Fact]
    public void EmptyBatchGivesAnEmptyOutput()
    {
        using var scope = NewDisposeScope();
        var m = new BotMhsa2d(8, 3, heads: 2);
        using var _ = no_grad();
        foreach (var factorised in new[] { true, false })
            using (KernelOptions.Use(KernelOptions.Current with { MhsaFactorisedPositions = factorised }))
                Assert.Equal(new long[] { 0, 8, 3, 3 }, m.call(zeros(0, 8, 3, 3)).shape);
    }

    /// <summary>With gradients on, the MHSA stays on the differentiable twin (the factorised form has no backward).</summary>
    [Fact]
    public void TrainingKeepsTheDifferentiableTwin()
    {
        var m = new BotMhsa2d(8, 3, heads: 2);
        var x = randn(1, 8, 3, 3, requires_grad: true);
        m.call(x).sum().backward();
        Assert.NotNull(x.grad);
        Assert.NotNull(m.get_parameter("rel_h")!.grad);
        Assert.True(m.get_parameter("rel_h")!.grad!.abs().sum().item<float>() > 0, "rel_h gets a gradient");
    }

    [Fact]
    public void RegisterHeadDoesNotChangeOutputAndGetsNoGradient()
    {
        var withReg = new BotMhsa2d(8, 4, heads: 2, registerTokens: 1);
        var without = new BotMhsa2d(8, 4, heads: 2, registerTokens: 0);
        without.load_state_dict(withReg.state_dict(), strict: false);
        var x = randn(2, 8, 4, 4);
        Assert.True(allclose(withReg.call(x), without.call(x)));
        withReg.call(x).sum().backward();
        Assert.Null(withReg.get_parameter("register_tokens")!.grad);
        Assert.Equal(16L * 16 + 4 * 16, withReg.get_parameter("register_tokens")!.numel() + withReg.get_parameter("register_tokens_v")!.numel());
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var m = new BotMhsa2d(4, 2, heads: 2);
        m.to(ScalarType.Float64);
        var errs = Gradcheck.MaxRelativeError(t => m.call(t[0]), [randn(1, 4, 2, 2, dtype: ScalarType.Float64)]);
        Assert.True(errs[0] < 1e-6, $"relative error {errs[0]}");
    }

    [Fact]
    public void WrongSideIsRejected()
    {
        var m = new BotMhsa2d(8, 4, heads: 2);
        var ex = Assert.Throws<ArgumentException>(() => m.call(randn(1, 8, 5, 5)));
        Assert.Contains("(batch, 8, 4, 4)", ex.Message);
    }
}
