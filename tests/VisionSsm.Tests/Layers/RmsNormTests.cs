using TorchSharp;
using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class RmsNormTests
{
    [Fact]
    public void MatchesTheFormula()
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(3, eps: 1e-5);
        using (no_grad()) norm.Weight.copy_(tensor(new float[] { 1, 2, 0.5f }));
        var x = tensor(new float[] { 1, 2, 2, -3, 0, 4 }).reshape(2, 3);
        var y = norm.call(x);
        // Row 1: mean(x²) = 3 → x / √(3 + 1e-5) · w; row 2: mean = 25/3.
        double s1 = 1 / Math.Sqrt(3 + 1e-5), s2 = 1 / Math.Sqrt(25.0 / 3 + 1e-5);
        var expected = tensor(new float[] { (float)s1, (float)(4 * s1), (float)(s1), (float)(-3 * s2), 0, (float)(2 * s2) }).reshape(2, 3);
        Assert.True(allclose(y, expected, 1e-6, 1e-6));
        Assert.Equal(["weight"], norm.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void HalfInputsAreNormalisedInFloat32AndCastBack()
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(4);
        var x = (randn(2, 4) * 100).to_type(ScalarType.BFloat16);
        var y = norm.call(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        var xf = x.to_type(ScalarType.Float32);
        var expected = xf * rsqrt(xf.square().mean([-1L], keepdim: true) + 1e-5);
        Assert.True(allclose(y.to_type(ScalarType.Float32), expected, 1e-2, 1e-2));
    }

    [Fact]
    public void WrongLastDimensionIsRejected()
    {
        using var norm = new RmsNorm(4);
        var ex = Assert.Throws<ArgumentException>(() => norm.call(zeros(2, 5)));
        Assert.Contains("4", ex.Message);
    }
    [Theory]
    [InlineData(1, 1, 8, true)]
    [InlineData(2, 13, 20, true)]     // D not a multiple of the vector width: scalar tail
    [InlineData(1, 197, 384, false)]
    [InlineData(4, 700, 96, true)]    // 2,800 rows × 96 ≥ 2^18 elements: the parallel loop
    public void FusedAddAndNormEqualsItsTwinAndTheFormula(int batch, int length, int d, bool withResidual)
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(d);
        using (no_grad()) norm.Weight.copy_(rand(d) + 0.5);
        var h = randn(batch, length, d);
        var res = withResidual ? randn(batch, length, d) : null;
        using var _ = no_grad();
        var (y, r) = norm.AddAndNorm(h, res);
        var (yRef, rRef) = norm.AddAndNormReference(h, res);
        var s = withResidual ? h + res! : h;
        var formula = s * rsqrt(s.square().mean([-1L], keepdim: true) + 1e-5) * norm.Weight;   // docs/models/vim.md §3, written out
        Assert.True(allclose(r, rRef, 1e-6, 1e-6) && allclose(r, s, 1e-6, 1e-6));
        Assert.True(allclose(y, yRef, 1e-5, 1e-5), $"fused vs twin: {(y - yRef).abs().max().item<float>()}");
        Assert.True(allclose(y, formula, 1e-5, 1e-5));
    }

    [Fact]
    public void AddAndNormKeepsGradientsWhenNeeded()
    {
        using var scope = NewDisposeScope();
        var norm = new RmsNorm(6);
        var h = randn(2, 3, 6, dtype: ScalarType.Float64).requires_grad_(true);
        var res = randn(2, 3, 6, dtype: ScalarType.Float64);
        norm.to(ScalarType.Float64);
        var errors = Gradcheck.MaxRelativeError(a => norm.AddAndNorm(a[0], res).Normed, [h.detach()]);
        Assert.True(errors[0] < 1e-6, $"relative error {errors[0]}");
        var (y, _) = norm.AddAndNorm(h, res);
        y.sum().backward();
        Assert.NotNull(norm.Weight.grad);
    }

    /// <summary>
    /// Training in float32 takes the fused row pass with its backward: both outputs and the gradients of hidden,
    /// residual and weight against the float64 formula under libtorch's autograd, with a gradient on both outputs
    /// (the residual stream flows on) or on the normalised one only.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 8, true)]
    [InlineData(2, 13, 20, true)]     // D not a multiple of the vector width: scalar tail
    [InlineData(4, 197, 384, true)]   // Vim-S at batch 4: several 64-row chunks
    [InlineData(2, 9, 16, false)]
    public void FusedTrainingAddAndNormMatchesTheFloat64Formula(int batch, int length, int d, bool gradOfResidualOutput)
    {
        using var scope = NewDisposeScope();
        var h64 = randn(batch, length, d, dtype: ScalarType.Float64);
        var res64 = randn(batch, length, d, dtype: ScalarType.Float64);
        var w64 = rand(d, dtype: ScalarType.Float64) + 0.5;
        var gy = randn(batch, length, d, dtype: ScalarType.Float64);
        var gr = randn(batch, length, d, dtype: ScalarType.Float64);
        var norm = new RmsNorm(d);
        using (no_grad()) norm.Weight.copy_(w64);
        var h = h64.to_type(ScalarType.Float32).requires_grad_(true);
        var res = res64.to_type(ScalarType.Float32).requires_grad_(true);
        var (y, r) = norm.AddAndNorm(h, res);
        var loss = (y * gy.to_type(ScalarType.Float32)).sum();
        if (gradOfResidualOutput) loss = loss + (r * gr.to_type(ScalarType.Float32)).sum();
        loss.backward();

        var hRef = h64.clone().requires_grad_(true);
        var resRef = res64.clone().requires_grad_(true);
        var wRef = w64.clone().requires_grad_(true);
        var s = hRef + resRef;
        var yRef = s * rsqrt(s.square().mean([-1L], keepdim: true) + 1e-5) * wRef;   // docs/models/vim.md §3, written out
        var lossRef = (yRef * gy).sum();
        if (gradOfResidualOutput) lossRef = lossRef + (s * gr).sum();
        lossRef.backward();

        Float32Sums.AssertClose(yRef.detach(), y.detach(), d);
        Float32Sums.AssertClose(s.detach(), r.detach(), 1);
        Float32Sums.AssertClose(hRef.grad!, h.grad!, d);
        Float32Sums.AssertClose(resRef.grad!, res.grad!, d);
        Float32Sums.AssertClose(wRef.grad!, norm.Weight.grad!, (long)batch * length);
    }

    [Fact]
    public void AddAndNormRejectsMismatchedResidual()
    {
        using var norm = new RmsNorm(4);
        var ex = Assert.Throws<ArgumentException>(() => norm.AddAndNorm(zeros(2, 4), zeros(3, 4)));
        Assert.Equal("residual", ex.ParamName);
    }
}
