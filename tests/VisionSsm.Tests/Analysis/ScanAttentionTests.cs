using VisionSsm.Analysis;
using VisionSsm.Models;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using VisionSsm.Tests.Ops;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Analysis;

public class ScanAttentionTests
{
    /// <summary>Every scan call of a real float64 forward: M u + D ⊙ u (· SiLU(z) for Vim's and vGamba's gated scans)
    /// equals the output the kernel produced, for every route (all channels of every call).</summary>
    [Theory]
    [InlineData("vmamba_nano")]          // SS2D cross-scan, 4 routes per call, no z
    [InlineData("vmamba_nano_unidi")]
    [InlineData("vmamba_nano_bidi")]
    [InlineData("vim_nano")]             // BiMamba: forward and backward calls, z-gated
    [InlineData("vgamba_nano")]          // Gamba cell's Mamba, z-gated
    public void Every_captured_scan_of_a_forward_is_M_u_plus_D_u(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var model = ModelZoo.Create(name, new ModelOptions(4, 1, 28, 0, Dtype: ScalarType.Float64));
        model.eval();
        var x = randn(1, 1, 28, 28, dtype: ScalarType.Float64);
        using var kernels = KernelOptions.Use(KernelOptions.Current with { FusedMamba = false, InterOp = false });
        using var capture = ScanCapture.Start();
        using (no_grad()) model.call(x);
        Assert.NotEmpty(capture.Scans);
        // The first block's calls (SS2D: one call of four routes; Vim: forward and backward; vGamba: the cell).
        foreach (var s in capture.Scans.Take(2))
        {
            var y = ScanMatrix.Reconstruct(s, 0);
            Assert.True(ScanInputs.RelErr(y, s.Y[0]) < 1e-9, $"{name}: D {s.Channels} L {s.Length} z {s.Z is not null}: {ScanInputs.RelErr(y, s.Y[0])}");
        }
        Assert.Equal(name is "vim_nano" or "vgamba_nano", capture.Scans.Any(s => s.Z is not null));
    }

    public static TheoryData<ScanPattern, int, int> PatternShapes => new()
    {
        { ScanPattern.Cross, 1, 1 }, { ScanPattern.Cross, 2, 3 }, { ScanPattern.Cross, 4, 4 }, { ScanPattern.Cross, 3, 5 },
        { ScanPattern.Unidirectional, 2, 3 }, { ScanPattern.Unidirectional, 4, 4 },
        { ScanPattern.Bidirectional, 2, 3 }, { ScanPattern.Bidirectional, 5, 3 },
    };

    [Theory, MemberData(nameof(PatternShapes))]
    public void Each_route_reads_every_pixel_once(ScanPattern pattern, int h, int w)
    {
        foreach (var route in ScanRoutes.Sources(pattern, h, w))
            Assert.Equal(Enumerable.Range(0, h * w).Select(i => (long)i), route.Order());
    }

    [Theory, MemberData(nameof(PatternShapes))]
    public void Pixel_order_puts_each_entry_at_its_pixels(ScanPattern pattern, int h, int w)
    {
        using var scope = NewDisposeScope();
        long l = (long)h * w;
        var m = randn(l, l, dtype: ScalarType.Float64);
        var md = m.data<double>().ToArray();
        foreach (var route in ScanRoutes.Sources(pattern, h, w))
        {
            var p = ScanAttention.ToPixelOrder(m, route, l).data<double>().ToArray();
            for (int t = 0; t < l; t++)
                for (int s = 0; s < l; s++)
                    Assert.Equal(md[t * l + s], p[route[t] * l + route[s]]);
        }
    }

    [Fact]
    public void Route_sources_of_the_cross_scan_match_the_cross_scan_kernel()
    {
        using var scope = NewDisposeScope();
        var x = arange(12, dtype: ScalarType.Float32).view(1, 1, 3, 4);
        var xs = CrossScan.Scan(x).view(4, 12);
        var sources = ScanRoutes.Sources(ScanPattern.Cross, 3, 4);
        for (int k = 0; k < 4; k++) Assert.Equal(sources[k].Select(v => (float)v), xs[k].data<float>().ToArray());
    }

    [Fact]
    public void Pixel_order_rejects_a_route_that_is_not_a_permutation()
    {
        using var scope = NewDisposeScope();
        var m = zeros(3, 3, dtype: ScalarType.Float64);
        var e = Assert.Throws<ArgumentException>(() => ScanAttention.ToPixelOrder(m, [0, 1, 1], 3));
        Assert.Contains("permutation", e.Message);
    }

    [Fact]
    public void Maps_and_rollout_have_the_documented_form()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = ModelZoo.Create("vmamba_nano", new ModelOptions(4, 1, 28, 0));
        var x = randn(1, 1, 28, 28);
        // vmamba_nano: stage maps 14, 7, 4, 2; mixers 2 and 3 are the two blocks of the 4×4 stage.
        using var r = ScanAttention.Compute(model, x, 3);
        Assert.Equal((4, 4), (r.Block.Height, r.Block.Width));
        Assert.Equal([2, 3], r.RolloutMixers.Select(m => m.Index));
        Assert.Equal((2, 2), r.Query);
        Assert.Equal(4, r.Block.Routes.Count);
        foreach (var map in r.Block.Routes.Select(p => p.Map).Append(r.Block.Combined))
        {
            Assert.Equal([16L, 16L], map.shape);
            Assert.Equal(0.0, map.min().item<double>(), 12);
            Assert.Equal(1.0, map.max().item<double>(), 12);
        }
        // A product of row-stochastic matrices is row-stochastic.
        Assert.True(allclose(r.Rollout.sum(1), ones(16, dtype: ScalarType.Float64), rtol: 1e-12, atol: 1e-12));
        Assert.Equal(4, r.Diagonal().GetLength(0));
    }

    [Fact]
    public void Bad_block_query_or_model_is_a_clear_error()
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create("vmamba_nano", new ModelOptions(4, 1, 28, 0));
        var x = randn(1, 1, 28, 28);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ScanAttention.Compute(model, x, 5));
        Assert.Contains("--block", e.Message);
        Assert.Contains("0..4", e.Message);
        var q = Assert.Throws<ArgumentOutOfRangeException>(() => ScanAttention.Compute(model, x, 4, (2, 0)));
        Assert.Contains("--query", q.Message);
        using var resnet = ModelZoo.Create("resnet_nano", new ModelOptions(4, 1, 28, 0));
        Assert.Contains("no selective-scan mixer", Assert.Throws<ArgumentException>(() => ScanAttention.Compute(resnet, x, 0)).Message);
        using var cascade = ModelZoo.Create("vmamba_nano_cascade", new ModelOptions(4, 1, 28, 0));
        Assert.Contains("cascade", Assert.Throws<NotSupportedException>(() => ScanAttention.Compute(cascade, x, 0)).Message);
    }
}
