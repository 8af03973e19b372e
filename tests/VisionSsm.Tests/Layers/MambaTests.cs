using VisionSsm.Runtime;
using TorchSharp;
using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

/// <summary>The Mamba mixer of docs/models/mamba.md §1: shapes, causality, parameter names/count and docs/models/mamba.md §2 initialisation.</summary>
public class MambaTests
{
    static readonly MambaConfig Small = new(DModel: 24, DState: 4);

    [Fact]
    public void OutputShapeEqualsInputShape()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(Small);
        var y = m.call(randn(2, 9, 24));
        Assert.Equal(new long[] { 2, 9, 24 }, y.shape);
    }

    [Fact]
    public void OutputAtTDependsOnlyOnInputsUpToT()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(Small);
        using var _ = no_grad();
        var x = randn(1, 12, 24);
        var y = m.call(x);
        const int t = 6;
        var x2 = x.clone();
        x2.narrow(1, t + 1, 12 - t - 1).copy_(randn(1, 12 - t - 1, 24) * 3);
        var y2 = m.call(x2);
        Assert.True(y.narrow(1, 0, t + 1).allclose(y2.narrow(1, 0, t + 1), rtol: 0, atol: 1e-6), "outputs up to t changed");
        Assert.False(y.narrow(1, t + 1, 1).allclose(y2.narrow(1, t + 1, 1), rtol: 0, atol: 1e-4), "output after t should change");
    }

    [Theory]
    [InlineData(24, 4)]
    [InlineData(192, 16)]   // Vim-T width
    public void ParameterCountMatchesFormula(int dModel, int dState)
    {
        var cfg = new MambaConfig(dModel, dState);
        using var m = new Mamba(cfg);
        long dm = dModel, di = 2 * dModel, r = (dModel + 15) / 16, n = dState;
        long formula = dm * 2 * di + 5 * di + di * (r + 2 * n) + di * r + di + di * n + di + di * dm;
        long counted = m.named_parameters().Sum(p => p.parameter.numel());
        Assert.Equal(formula, counted);
        Assert.Equal(formula, Mamba.ParameterCount(cfg));
    }

    [Fact]
    public void ParameterNamesAndShapesAreUpstreamKeys()
    {
        using var m = new Mamba(Small);   // Dm 24, Di 48, R 2, N 4
        var shapes = m.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var expected = new Dictionary<string, long[]>
        {
            ["in_proj.weight"] = [96, 24], ["conv1d.weight"] = [48, 1, 4], ["conv1d.bias"] = [48],
            ["x_proj.weight"] = [10, 48], ["dt_proj.weight"] = [48, 2], ["dt_proj.bias"] = [48],
            ["A_log"] = [48, 4], ["D"] = [48], ["out_proj.weight"] = [24, 48],
        };
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), shapes.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, shape) in expected) Assert.Equal(shape, shapes[name]);
    }

    [Fact]
    public void InitialisationFollowsMambaSimple()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(new MambaConfig(DModel: 64, DState: 16));
        var p = m.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        // A_log[d, n] = log(n + 1) (S4D-real), D = 1.
        var expectedALog = log(arange(1, 17, dtype: ScalarType.Float32)).expand(128, 16);
        Assert.True(p["A_log"].allclose(expectedALog, rtol: 0, atol: 1e-7));
        Assert.True(p["D"].allclose(ones(128)));
        // softplus(dt_proj.bias) = dt ∈ [dt_min, dt_max] = [1e-3, 0.1].
        var dt = nn.functional.softplus(p["dt_proj.bias"]);
        Assert.True(dt.min().item<float>() >= 1e-3f * 0.999f, $"min dt {dt.min().item<float>()}");
        Assert.True(dt.max().item<float>() <= 0.1f * 1.001f, $"max dt {dt.max().item<float>()}");
        // dt_proj.weight ~ U(-R^-0.5, R^-0.5), R = 4.
        Assert.True(p["dt_proj.weight"].abs().max().item<float>() <= 0.5f);
    }

    [Theory]
    [InlineData(1, 1, 8, 4)]
    [InlineData(1, 13, 8, 16)]
    [InlineData(2, 9, 16, 64)]     // vGamba's d_state
    [InlineData(3, 49, 24, 8)]
    [InlineData(1, 196, 32, 64)]   // L ≥ 64: in_proj channel-major
    [InlineData(2, 100, 16, 16)]
    public void FusedInferencePathEqualsModulePath(int batch, int length, int dModel, int dState)
    {
        // The fused path (float32 inference) against the module path, its slow twin, run in float64 on the same weights.
        using var scope = NewDisposeScope();
        random.manual_seed(batch * 100 + length + dModel + dState);
        var c = new MambaConfig(dModel, DState: dState);
        using var m = new Mamba(c);
        using (no_grad())
            foreach (var (name, p) in m.named_parameters())
                if (name is "D" or "conv1d.bias" or "dt_proj.bias") p.add_(randn_like(p) * 0.3);   // every term matters
        var x = randn(batch, length, dModel);
        using var _ = no_grad();
        Assert.True(FusedMixerPath.Applies(m, x, c.DInner));
        var fused = m.call(x);
        Tensor tokenMajor;
        using (KernelOptions.Use(KernelOptions.Current with { MambaChannelMajorInProjection = false })) tokenMajor = m.call(x);                                         // the other in_proj route
        var channelFirst = m.call(x.transpose(1, 2).contiguous().transpose(1, 2));  // x as a view of a channel-first map (vGamba's cell)
        Tensor moduleF32, module64;
        using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false }))
        {
            moduleF32 = m.call(x);
            m.to(ScalarType.Float64);
            module64 = m.call(x.to_type(ScalarType.Float64)).to_type(ScalarType.Float32);
        }
        Assert.Equal(new long[] { batch, length, dModel }, fused.shape);
        Assert.True(allclose(fused, module64, 1e-4, 1e-5), $"fused vs float64 module path: {(fused - module64).abs().max().item<float>()}");
        Assert.True(allclose(fused, moduleF32, 1e-4, 1e-5), $"fused vs module path: {(fused - moduleF32).abs().max().item<float>()}");
        Assert.True(allclose(tokenMajor, module64, 1e-4, 1e-5), $"token-major route vs float64 module path: {(tokenMajor - module64).abs().max().item<float>()}");
        Assert.True(allclose(channelFirst, fused, 1e-5, 1e-6), $"channel-first view input: {(channelFirst - fused).abs().max().item<float>()}");
    }

    [Fact]
    public void FusedPathIsOnlyTakenForFloat32InferenceWhenAllowed()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(Small);
        var x = randn(1, 5, 24);
        Assert.False(FusedMixerPath.Applies(m, x, Small.DInner));                    // autograd on, parameters need grad
        using var _ = no_grad();
        Assert.True(FusedMixerPath.Applies(m, x, Small.DInner));
        Assert.False(FusedMixerPath.Applies(m, x.to_type(ScalarType.Float64), Small.DInner));
        Assert.False(FusedMixerPath.Applies(m, x, 20));                              // kernel needs Di % 8 == 0
        using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false })) Assert.False(FusedMixerPath.Applies(m, x, Small.DInner));
    }

    [Fact]
    public void EveryParameterGetsAGradient()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(Small);
        m.call(randn(2, 7, 24)).pow(2).sum().backward();
        foreach (var (name, prm) in m.named_parameters())
        {
            Assert.True(prm.grad is not null, $"{name} has no gradient");
            Assert.True(prm.grad!.isfinite().all().item<bool>(), $"{name} gradient not finite");
            Assert.True(prm.grad!.abs().sum().item<float>() > 0, $"{name} gradient is zero");
        }
    }
}
