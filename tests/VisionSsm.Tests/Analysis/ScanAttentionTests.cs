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
    }

    /// <summary>The cascade's two calls: each route's pixel-order M reproduces its pass (M u + D ⊙ u, per route, block
    /// structure over rows or columns), and the composite reproduces the column pass's output from the row pass's input:
    /// y_cols = T u_rows − cols · (μ / σ) per channel (the normalisation's shift, the only part T leaves out).</summary>
    [Fact]
    public void Cascade_routes_and_composite_reproduce_the_two_passes()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = ModelZoo.Create("vmamba_nano_cascade", new ModelOptions(4, 1, 28, 0, Dtype: ScalarType.Float64));
        model.eval();
        var x = randn(1, 1, 28, 28, dtype: ScalarType.Float64);
        using var kernels = KernelOptions.Use(KernelOptions.Current with { FusedMamba = false, InterOp = false });
        using var capture = ScanCapture.Start();
        using (no_grad()) model.call(x);
        var rows = capture.Scans[0];
        var cols = capture.Scans[1];
        long h = rows.Batch, w = rows.Length, di = rows.Channels / 2, p = h * w;
        Assert.Equal((w, h), (cols.Batch, cols.Length));

        // Route 0 (rows forward), mean over channels: pixel (r, c) reads only its own row, at columns ≤ c.
        var r0 = CascadeAttention.RouteMean(rows, cols, 0).view(h, w, h, w);
        var r3 = CascadeAttention.RouteMean(rows, cols, 3).view(h, w, h, w);
        var ri = arange(h).view(h, 1, 1, 1); var ci = arange(w).view(1, w, 1, 1);
        var rj = arange(h).view(1, 1, h, 1); var cj = arange(w).view(1, 1, 1, w);
        var support0 = ri.eq(rj).logical_and(cj.le(ci));                                // own row, columns ≤ c
        var support3 = ci.eq(cj).logical_and(rj.ge(ri));                                // own column, rows ≥ r
        Assert.Equal(0.0, r0.masked_fill(support0, Scalars.Zero).abs().max().item<double>());
        Assert.Equal(0.0, r3.masked_fill(support3, Scalars.Zero).abs().max().item<double>());
        Assert.True(r0.masked_select(support0).abs().min().item<double>() > 0);
        Assert.True(r3.masked_select(support3).abs().min().item<double>() > 0);

        // Row pass: per channel, rows_d u_d = the captured forward output plus the flipped backward output.
        var rowM = CascadeAttention.PassMatrices(rows, di, 0, di);                      // (Di, H, W, W)
        var uRows = rows.U.narrow(1, 0, di).permute(1, 0, 2);                           // (Di, H, W): route 0's input
        var (yRows, mean, sigma) = CascadeAttention.RowOutput(rows, di);
        Assert.True(ScanInputs.RelErr(einsum("drcx,drx->drc", rowM, uRows), yRows) < 1e-9);
        // The column pass reads the row result normalised over channels (the captured input of the column call).
        var uCols = cols.U.narrow(1, 0, di).permute(1, 2, 0);                           // (Di, H, W)
        Assert.True(ScanInputs.RelErr((yRows - mean) / sigma, uCols) < 1e-9);

        var colM = CascadeAttention.PassMatrices(cols, di, 0, di);                      // (Di, W, H, H)
        var yc = cols.Y;
        var yCols = (yc.narrow(1, 0, di) + yc.narrow(1, di, di).flip(-1)).permute(1, 2, 0);   // (Di, H, W)
        var t = CascadeAttention.Composite(rows, cols, 0, di);                          // (Di, H, W, H, W)
        var predicted = einsum("drcqx,dqx->drc", t, uRows) - einsum("dcrq,qc->drc", colM, mean / sigma);
        Assert.True(ScanInputs.RelErr(predicted, yCols) < 1e-9, $"{ScanInputs.RelErr(predicted, yCols)}");
        var composite = CascadeAttention.CompositeMean(rows, cols);
        Assert.True(allclose(composite, t.mean([0L]).reshape(p, p), rtol: 1e-12, atol: 1e-14));
        // Every pixel reaches every pixel: through (r', c), along a row in both directions, then a column.
        Assert.True(composite.abs().min().item<double>() > 0);
    }

    [Fact]
    public void Cascade_maps_have_the_documented_form()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var cascade = ModelZoo.Create("vmamba_nano_cascade", new ModelOptions(4, 1, 28, 0));
        using var r = ScanAttention.Compute(cascade, randn(1, 1, 28, 28), 3);
        Assert.Equal([2, 3], r.RolloutMixers.Select(m => m.Index));
        Assert.Equal(4, r.Block.Routes.Count);
        foreach (var map in r.Block.Routes.Select(p => p.Map).Append(r.Block.Combined))
        {
            Assert.Equal([16L, 16L], map.shape);
            Assert.Equal(1.0, map.max().item<double>(), 12);
        }
        Assert.True(allclose(r.Rollout.sum(1), ones(16, dtype: ScalarType.Float64), rtol: 1e-12, atol: 1e-12));
    }
}
