using VisionSsm.Runtime;
using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class BiMambaTests
{
    static readonly MambaConfig Small = new(DModel: 8, DState: 4);

    static BiMamba Make(MambaConfig c, int seed)
    {
        random.manual_seed(seed);
        var m = new BiMamba(c);
        m.to(ScalarType.Float64);
        // Non-trivial values everywhere (init leaves dt_proj_b.bias at 0 and D at 1).
        using (no_grad())
            foreach (var (name, p) in m.named_parameters())
                if (name.StartsWith("D") || name.Contains("bias")) p.add_(randn_like(p) * 0.3);
        return m;
    }

    /// <summary>One direction of docs/models/vim.md §4 written out with functional ops and the reference scan.</summary>
    static Tensor RefDirection(IReadOnlyDictionary<string, Tensor> p, string s, Tensor x, Tensor z, MambaConfig c)
    {
        long l = x.shape[2];
        var conv = nn.functional.conv1d(x, p[$"conv1d{s}.weight"], p[$"conv1d{s}.bias"], padding: c.DConv - 1, groups: c.DInner);
        var xc = nn.functional.silu(conv[.., .., ..(int)l]);
        var dbl = matmul(p[$"x_proj{s}.weight"], xc);                                // (B, R+2N, L)
        var dt = matmul(p[$"dt_proj{s}.weight"], dbl[.., ..c.Rank, ..]);
        var b = dbl[.., c.Rank..(c.Rank + c.DState), ..].contiguous();
        var cc = dbl[.., (c.Rank + c.DState).., ..].contiguous();
        var aLog = s == "" ? p["A_log"] : p["A_b_log"];
        var d = s == "" ? p["D"] : p["D_b"];
        var args = ScanArguments.Validate(xc, dt, -exp(aLog), b, cc, d, z.contiguous(), p[$"dt_proj{s}.bias"], true);
        return SelectiveScanReference.Apply(args).y;
    }

    /// <summary>The reference twin: out_proj((forward + flip(backward(flip)))/2), in_proj shared.</summary>
    internal static Tensor Reference(IReadOnlyDictionary<string, Tensor> p, Tensor u, MambaConfig c)
    {
        var xz = matmul(p["in_proj.weight"], u.transpose(1, 2));                     // (B, 4D, L)
        var x = xz[.., ..c.DInner, ..];
        var z = xz[.., c.DInner.., ..];
        var yf = RefDirection(p, "", x, z, c);
        var yb = RefDirection(p, "_b", x.flip(2), z.flip(2), c).flip(2);
        return matmul(((yf + yb) / 2).transpose(1, 2), p["out_proj.weight"].t());
    }

    static Dictionary<string, Tensor> Params(nn.Module m) => m.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 13)]
    [InlineData(3, 1)]
    public void EqualsAverageOfForwardAndFlippedBackwardReference(int batch, int length)
    {
        using var scope = NewDisposeScope();
        var m = Make(Small, 11);
        var u = randn(batch, length, 8, dtype: ScalarType.Float64);
        using var _ = no_grad();
        var expected = Reference(Params(m), u, Small);
        var actual = m.call(u);
        Assert.Equal([(long)batch, length, 8], actual.shape);
        Assert.True(allclose(actual, expected, 1e-10, 1e-12), $"max diff {(actual - expected).abs().max().item<double>()}");
    }

    [Theory]
    [InlineData(1, 1, 8)]
    [InlineData(1, 13, 8)]
    [InlineData(2, 9, 16)]
    [InlineData(3, 5, 24)]
    [InlineData(1, 21, 40)]   // d_model ≥ Gemm.MinK: in_proj and out_proj both on the C# GEMM
    [InlineData(2, 17, 64)]
    public void FusedInferencePathEqualsModulePathAndReference(int batch, int length, int dModel)
    {
        using var scope = NewDisposeScope();
        var c = new MambaConfig(DModel: dModel, DState: 4);
        var m = PerturbedMixer(c, seed: batch + length + dModel);
        var u = randn(batch, length, dModel);
        using var _ = no_grad();
        var fused = m.call(u);                                          // float32 CPU inference: the fused path
        Tensor modulePath;
        using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false })) modulePath = m.call(u);
        var p64 = Params(m).ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float64));
        var reference = Reference(p64, u.to_type(ScalarType.Float64), c).to_type(ScalarType.Float32);
        Assert.True(allclose(fused, modulePath, 1e-4, 1e-5), $"fused vs module path: {(fused - modulePath).abs().max().item<float>()}");
        var tokenMajor = m.ForwardFused(u, channelMajorInProj: false);   // in_proj token-major + BiCausalConv.Prepare
        Assert.True(allclose(tokenMajor, modulePath, 1e-4, 1e-5), $"token-major fused vs module path: {(tokenMajor - modulePath).abs().max().item<float>()}");
        Assert.True(allclose(fused, reference, 1e-4, 1e-5), $"fused vs reference: {(fused - reference).abs().max().item<float>()}");
    }

    /// <summary>A mixer whose D skips and biases are moved off their init values, so every term of the output matters.</summary>
    static BiMamba PerturbedMixer(MambaConfig c, int seed)
    {
        random.manual_seed(seed);
        var m = new BiMamba(c);
        using (no_grad())
            foreach (var (name, p) in m.named_parameters())
                if (name.StartsWith("D") || name.Contains("bias")) p.add_(randn_like(p) * 0.3);
        return m;
    }

    /// <summary>
    /// Training (autograd on) in float32 takes the fused training path (BiCausalConvFunction, one grouped scan); the
    /// module path is its twin. Output and every gradient against the module path and the float64 reference twin.
    /// </summary>
    [Theory]
    [InlineData(1, 5, 8)]
    [InlineData(2, 13, 16)]
    [InlineData(3, 1, 8)]
    [InlineData(2, 40, 24)]
    public void FusedTrainingPathEqualsModulePathAndReference(int batch, int length, int dModel)
    {
        using var scope = NewDisposeScope();
        var c = new MambaConfig(DModel: dModel, DState: 4);
        var m64 = Make(c, 31 + length);
        var m = new BiMamba(c);                     // the same parameters in float32 (copied: other tests draw from the global generator)
        var p64 = Params(m64);
        using (no_grad())
            foreach (var (name, p) in m.named_parameters()) p.copy_(p64[name]);
        var u64 = randn(batch, length, dModel, dtype: ScalarType.Float64);
        var w64 = randn(batch, length, dModel, dtype: ScalarType.Float64);
        Assert.True(FusedMixerPath.TrainingApplies(m, u64.to_type(ScalarType.Float32), c.DInner));

        (Tensor Y, Dictionary<string, Tensor> Grads, Tensor DU) Run(bool fused)
        {
            using var kernels = KernelOptions.Use(KernelOptions.Current with { FusedMamba = fused });
            m.zero_grad();
            var u = u64.to_type(ScalarType.Float32).requires_grad_(true);
            var y = m.call(u);
            (y * w64.to_type(ScalarType.Float32)).sum().backward();
            return (y.detach(), m.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.grad!.clone()), u.grad!.clone());
        }
        var fused = Run(true);
        var module = Run(false);
        var leaves = Params(m64).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().requires_grad_(true));
        var u2 = u64.clone().requires_grad_(true);
        var yRef = Reference(leaves, u2, c);
        (yRef * w64).sum().backward();

        long terms = (long)batch * length * c.DInner;   // the widest sums: weight gradients over batch × L (× Di for in_proj)
        Float32Sums.AssertClose(yRef, fused.Y, terms);
        Float32Sums.AssertClose(module.Y.to_type(ScalarType.Float64), fused.Y, terms);
        Float32Sums.AssertClose(u2.grad!, fused.DU, terms);
        foreach (var (name, g) in fused.Grads)
        {
            try
            {
                Float32Sums.AssertClose(leaves[name].grad!, g, terms);
                Float32Sums.AssertClose(module.Grads[name].to_type(ScalarType.Float64), g, terms);
            }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"gradient of {name}: {e.Message}"); }
        }
    }

    [Fact]
    public void TrainingGivesEveryParameterAGradient()
    {
        using var scope = NewDisposeScope();
        var m = new BiMamba(Small);
        m.call(randn(1, 6, 8)).sum().backward();
        foreach (var (name, p) in m.named_parameters())
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{name} got no gradient");
    }

    [Fact]
    public void BackwardDirectionIsNotDropped()
    {
        using var scope = NewDisposeScope();
        var m = Make(Small, 3);
        var u = randn(2, 9, 8, dtype: ScalarType.Float64);
        using var _ = no_grad();
        var before = m.call(u);
        Params(m)["x_proj_b.weight"].mul_(1.5);
        var after = m.call(u);
        Assert.True((before - after).abs().max().item<double>() > 1e-6);
    }

    [Fact]
    public void FlippingInputAndSwappingDirectionsFlipsTheOutput()
    {
        using var scope = NewDisposeScope();
        var m = Make(Small, 5);
        var swapped = Make(Small, 6);
        string Swap(string k) => k switch
        {
            "A_log" => "A_b_log", "A_b_log" => "A_log", "D" => "D_b", "D_b" => "D",
            _ when k.Contains("_b.") => k.Replace("_b.", "."),
            _ when k.StartsWith("conv1d.") || k.StartsWith("x_proj.") || k.StartsWith("dt_proj.") => k.Replace(".", "_b."),
            _ => k,
        };
        var sd = m.state_dict().ToDictionary(kv => Swap(kv.Key), kv => kv.Value);
        var (missing, unexpected) = swapped.load_state_dict(sd);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        var u = randn(2, 11, 8, dtype: ScalarType.Float64);
        using var _ = no_grad();
        var y = m.call(u);
        var yFlipped = swapped.call(u.flip(1));
        Assert.True(allclose(yFlipped, y.flip(1), 1e-10, 1e-12));
        Assert.False(allclose(m.call(u.flip(1)), y.flip(1), 1e-3, 1e-3));   // without the swap it is not symmetric
    }

    [Fact]
    public void BlockGradientsMatchTheReferenceTwin()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        var block = new VimBlock(Small, 0, 1e-5);
        block.to(ScalarType.Float64);
        using (no_grad())
            foreach (var (_, p) in block.named_parameters()) p.add_(randn_like(p) * 0.1);
        var hidden = randn(2, 7, 8, dtype: ScalarType.Float64).requires_grad_(true);
        var residual = randn(2, 7, 8, dtype: ScalarType.Float64).requires_grad_(true);
        var w = randn(2, 7, 8, dtype: ScalarType.Float64);

        var (h, r) = block.Forward(hidden, residual);
        ((h * w).sum() + (r * w).sum()).backward();
        var fast = block.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.grad!.clone());
        var gHidden = hidden.grad!.clone();
        var gResidual = residual.grad!.clone();

        // Reference twin: leaves cloned from the block's parameters, RMSNorm and the mixer written out (docs/models/vim.md §3, §4).
        var leaves = block.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.detach().clone().requires_grad_(true));
        var hidden2 = hidden.detach().clone().requires_grad_(true);
        var residual2 = residual.detach().clone().requires_grad_(true);
        var r2 = residual2 + hidden2;
        var normed = r2 * rsqrt(r2.square().mean([-1L], keepdim: true) + 1e-5) * leaves["norm.weight"];
        var mixerParams = leaves.Where(kv => kv.Key.StartsWith("mixer.")).ToDictionary(kv => kv.Key["mixer.".Length..], kv => kv.Value);
        var h2 = Reference(mixerParams, normed, Small);
        ((h2 * w).sum() + (r2 * w).sum()).backward();

        Assert.True(allclose(h, h2, 1e-10, 1e-12));
        Assert.True(allclose(gHidden, hidden2.grad!, 1e-9, 1e-11));
        Assert.True(allclose(gResidual, residual2.grad!, 1e-9, 1e-11));
        foreach (var (name, g) in fast)
            Assert.True(allclose(g, leaves[name].grad!, 1e-8, 1e-10), $"gradient of {name} differs by {(g - leaves[name].grad!).abs().max().item<double>()}");
    }

    [Fact]
    public void InputGradientMatchesFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var m = Make(new MambaConfig(DModel: 4, DState: 2), 9);
        var u = randn(1, 6, 4, dtype: ScalarType.Float64);
        var errors = Gradcheck.MaxRelativeError(a => m.call(a[0]), [u]);
        Assert.True(errors[0] < 1e-6, $"relative error {errors[0]}");
    }

    [Fact]
    public void ParameterCountMatchesClosedForm()
    {
        using var m = new BiMamba(new MambaConfig(192));
        Assert.Equal(BiMamba.ParameterCount(new MambaConfig(192)), m.parameters().Sum(p => p.numel()));
        Assert.Equal(282_048L - 192, BiMamba.ParameterCount(new MambaConfig(192)));   // docs/models/vim.md §1 per layer minus RMSNorm
    }

    [Fact]
    public void BadInputNamesTheExpectedShape()
    {
        using var m = new BiMamba(Small);
        var ex = Assert.Throws<ArgumentException>(() => m.call(zeros(2, 5, 7)));
        Assert.Contains("(batch, L, 8)", ex.Message);
    }
}
