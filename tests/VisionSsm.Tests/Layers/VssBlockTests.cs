using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class VssBlockTests
{
    /// <summary>LayerNorm over dim 1 written out (biased variance, eps 1e-5).</summary>
    static Tensor Ln(Tensor x, Tensor w, Tensor b)
    {
        var mean = x.mean([1], keepdim: true);
        var variance = (x - mean).pow(2).mean([1], keepdim: true);
        return (x - mean) / sqrt(variance + 1e-5) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1);
    }

    static Tensor Proj(Tensor w, Tensor x) => einsum("oc,bchw->bohw", w, x);

    /// <summary>
    /// The reference twin of a VSS block (docs/models/vmamba.md §5, §6, §10) from the block's parameters, with
    /// einsums, the reference selective scan and the index-based cross-scan twins, all in plain NCHW.
    /// </summary>
    static Tensor ReferenceBlock(Tensor x, IReadOnlyDictionary<string, Tensor> p, Ss2dConfig cfg, bool mlp)
    {
        long b = x.shape[0], h = x.shape[2], w = x.shape[3], l = h * w, di = cfg.DInner, k = 4, r = cfg.Rank, n = cfg.DState;
        var xz = Proj(p["op.in_proj.weight"], Ln(x, p["norm.weight"], p["norm.bias"]));
        Tensor u = xz, z = null!;
        if (cfg.WithZ) { u = xz.narrow(1, 0, di); z = xz.narrow(1, di, di); }
        u = nn.functional.silu(nn.functional.conv2d(u, p["op.conv2d.weight"], cfg.ConvBias ? p["op.conv2d.bias"] : null, padding: [1, 1], groups: di));
        var xs = CrossScan.ScanReference(u);
        var xDbl = einsum("bkdl,kcd->bkcl", xs, p["op.x_proj_weight"]);
        var dts = einsum("bkrl,kdr->bkdl", xDbl.narrow(2, 0, r), p["op.dt_projs_weight"]);
        var args = ScanArguments.Validate(xs.reshape(b, k * di, l), dts.reshape(b, k * di, l), -exp(p["op.A_logs"]),
            xDbl.narrow(2, r, n).contiguous(), xDbl.narrow(2, r + n, n).contiguous(), p["op.Ds"], null,
            p["op.dt_projs_bias"].reshape(-1), true);
        var ys = SelectiveScanReference.Apply(args).y.view(b, k, di, l);
        var y = Ln(CrossScan.MergeReference(ys, h, w), p["op.out_norm.weight"], p["op.out_norm.bias"]);
        if (cfg.WithZ) y = y * nn.functional.silu(z);
        x = x + Proj(p["op.out_proj.weight"], y);
        if (!mlp) return x;
        var hdn = nn.functional.gelu(Proj(p["mlp.fc1.weight"], Ln(x, p["norm2.weight"], p["norm2.bias"])) + p["mlp.fc1.bias"].view(1, -1, 1, 1));
        return x + Proj(p["mlp.fc2.weight"], hdn) + p["mlp.fc2.bias"].view(1, -1, 1, 1);
    }

    public static TheoryData<string, int, int, int, int> Cases => new()
    {
        { "v2", 2, 8, 5, 3 }, { "v2", 1, 16, 4, 4 }, { "v2", 1, 8, 1, 1 }, { "v2r1", 2, 8, 3, 6 }, { "v0", 2, 8, 3, 5 },
    };

    static (Ss2dConfig cfg, bool mlp) Config(string kind, int c) => kind switch
    {
        "v0" => (Ss2dConfig.V0(c), false),
        "v2r1" => (new Ss2dConfig(c, SsmRatio: 1.0), true),
        _ => (new Ss2dConfig(c), true),
    };

    [Theory, MemberData(nameof(Cases))]
    public void Block_output_and_gradients_match_the_reference_twin_in_float64(string kind, int b, int c, int h, int w) =>
        Compare(kind, b, c, h, w, ScalarType.Float64, 1e-9);

    [Theory, MemberData(nameof(Cases))]
    public void Block_output_and_gradients_match_the_reference_twin_in_float32(string kind, int b, int c, int h, int w) =>
        Compare(kind, b, c, h, w, ScalarType.Float32, 2e-4);

    static void Compare(string kind, int b, int c, int h, int w, ScalarType dtype, double tol)
    {
        using var scope = NewDisposeScope();
        var (cfg, mlp) = Config(kind, c);
        var block = new VssBlock(cfg, mlp ? 4.0 : 0.0);
        block.to(dtype);
        block.eval();
        var x = randn(b, c, h, w, dtype: dtype);
        var gOut = randn(b, c, h, w, dtype: dtype);

        var x1 = x.clone().requires_grad_(true);
        var y1 = block.call(x1);
        (y1 * gOut).sum().backward();

        var p = block.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter.detach().clone().requires_grad_(true));
        var x2 = x.clone().requires_grad_(true);
        var y2 = ReferenceBlock(x2, p, cfg, mlp);
        (y2 * gOut).sum().backward();

        AssertClose(y2, y1, tol, "output");
        AssertClose(x2.grad!, x1.grad!, tol, "dx");
        foreach (var (name, param) in block.named_parameters())
            AssertClose(p[name].grad!, param.grad!, tol, name);
    }

    static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        double scale = Math.Max(1, expected.abs().max().ToDouble());
        double err = (expected - actual).abs().max().ToDouble();
        Assert.True(err <= tol * scale, $"{what}: max |Δ| = {err:g3} (scale {scale:g3})");
    }

    [Fact]
    public void Block_input_gradient_matches_finite_differences()
    {
        using var scope = NewDisposeScope();
        var block = new VssBlock(new Ss2dConfig(8));
        block.to(ScalarType.Float64);
        block.eval();
        var x = randn(1, 8, 3, 4, dtype: ScalarType.Float64);
        Assert.All(Gradcheck.MaxRelativeError(t => block.call(t[0]), [x], maxElements: 24), e => Assert.True(e < 1e-6, $"{e}"));
    }

    [Fact]
    public void Channels_last_and_contiguous_inputs_give_the_same_output()
    {
        using var scope = NewDisposeScope();
        var block = new VssBlock(new Ss2dConfig(16));
        block.eval();
        using var _ = no_grad();
        var x = randn(2, 16, 6, 5);
        Assert.True(allclose(block.call(x), block.call(ChannelsLast.To(x)), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Drop_path_only_acts_in_training()
    {
        using var scope = NewDisposeScope();
        var block = new VssBlock(new Ss2dConfig(8), dropPath: 0.5);
        var x = randn(16, 8, 2, 2);
        block.eval();
        using var _ = no_grad();
        var a = block.call(x);
        Assert.True(allclose(a, block.call(x)));
        block.train();
        Assert.False(allclose(a, block.call(x)));
    }

    [Theory]
    [InlineData(96, 1.0)]
    [InlineData(192, 2.0)]
    [InlineData(40, 2.0)]
    public void Parameter_counts_follow_the_closed_forms(int c, double ratio)
    {
        // docs/models/vmamba.md §1, K = 4, N = 1, R = ceil(C/16).
        long di = (long)(ratio * c), r = (c + 15) / 16, n = 1, k = 4;
        long ss2d = c * di + 9 * di + k * (r + 2 * n) * di + k * di * r + k * di + k * di * n + k * di + 2 * di + di * c;
        long vss = 2L * c + ss2d + 2 * c + 4L * c * c + 4 * c + 4L * c * c + c;
        var cfg = new Ss2dConfig(c, ratio);
        using var op = new SS2D(cfg);
        using var block = new VssBlock(cfg);
        Assert.Equal(ss2d, op.parameters().Sum(p => p.numel()));
        Assert.Equal(vss, block.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Stem_downsample_and_head_follow_the_closed_forms()
    {
        using var model = VisionSsm.Models.ModelZoo.Create("vmamba_tiny_s1l8");
        var sd = model.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.numel());
        long c0 = 96;
        long Sum(string prefix) => sd.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(kv => kv.Value);
        Assert.Equal(3 * (c0 / 2) * 9 + c0 / 2 + c0 + (c0 / 2) * c0 * 9 + c0 + 2 * c0, Sum("patch_embed."));
        for (int i = 0; i < 3; i++)
        {
            long ci = c0 << i, cn = 2 * ci;
            Assert.Equal(9 * ci * cn + 3 * cn, Sum($"layers.{i}.downsample."));
        }
        Assert.Equal(2 * 768 + 1000 * 768 + 1000, Sum("classifier."));
    }

    [Fact]
    public void Wrong_channels_are_rejected()
    {
        using var block = new VssBlock(new Ss2dConfig(8));
        Assert.Throws<ArgumentException>(() => block.call(randn(1, 6, 4, 4)));
    }
}
