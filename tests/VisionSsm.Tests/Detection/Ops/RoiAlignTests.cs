using VisionSsm.Detection.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Ops;

public class RoiAlignTests
{
    static Tensor Rois(params double[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, 5 });

    /// <summary>Boxes in image pixels on a map of stride 1/scale: inside, partly and wholly outside, tiny, huge, degenerate.</summary>
    static Tensor MixedRois(int batch, int h, int w, double scale, int seed)
    {
        var rng = new Random(seed);
        double iw = w / scale, ih = h / scale;
        var rows = new List<double[]>
        {
            new double[] { 0, 0, 0, iw, ih },                                // the whole map
            new double[] { batch - 1, -0.3 * iw, -0.2 * ih, 0.4 * iw, 0.5 * ih }, // partly outside (top-left)
            new double[] { 0, 0.7 * iw, 0.6 * ih, 1.6 * iw, 1.9 * ih },      // partly outside (bottom-right)
            new double[] { 0, 2 * iw, 2 * ih, 3 * iw, 3 * ih },              // wholly outside
            new double[] { batch - 1, 0.5 * iw, 0.5 * ih, 0.5 * iw + 0.3, 0.5 * ih + 0.2 }, // tiny
            new double[] { 0, -3 * iw, -2 * ih, 4 * iw, 3 * ih },            // huge
            new double[] { 0, 0.3 * iw, 0.3 * ih, 0.3 * iw, 0.6 * ih },      // zero width
            new double[] { 0, 0.6 * iw, 0.6 * ih, 0.4 * iw, 0.4 * ih },      // inverted
            new double[] { 0, iw - 0.5 / scale, ih - 0.5 / scale, iw + 0.5 / scale, ih + 0.5 / scale }, // on the far edge
        };
        for (int i = 0; i < 6; i++)
        {
            double x1 = rng.NextDouble() * iw * 1.1 - 0.05 * iw, y1 = rng.NextDouble() * ih * 1.1 - 0.05 * ih;
            rows.Add([rng.Next(batch), x1, y1, x1 + rng.NextDouble() * iw, y1 + rng.NextDouble() * ih]);
        }
        return Rois([.. rows]);
    }

    public static TheoryData<int, int, int, int, int, double, int, bool> Grid => new()
    {
        // batch, channels, H, W, output, spatial scale, sampling ratio, aligned
        { 1, 3, 8, 8, 7, 1.0, 0, true },
        { 2, 2, 13, 9, 7, 0.25, 0, true },
        { 2, 4, 6, 11, 14, 0.5, 0, true },
        { 1, 2, 5, 5, 7, 1.0, 2, true },
        { 1, 3, 1, 1, 7, 1.0, 0, true },
        { 2, 2, 9, 7, 3, 0.125, 0, false },
        { 1, 2, 10, 12, 14, 0.0625, 1, false },
        { 1, 1, 2, 17, 7, 1.0, 3, true },
    };

    delegate Tensor Form(Tensor x, Tensor rois, int oh, int ow, double scale, int sampling, bool aligned);

    /// <summary>The C# kernel (the default on the CPU) and the gather form in libtorch ops.</summary>
    static readonly Form[] Forms = [(x, r, oh, ow, s, n, a) => RoiAlign.Apply(x, r, oh, ow, s, n, a), (x, r, oh, ow, s, n, a) => RoiAlign.ApplyGather(x, r, oh, ow, s, n, a)];

    [Theory, MemberData(nameof(Grid))]
    public void Fast_form_equals_the_per_sample_twin(int b, int c, int h, int w, int output, double scale, int sampling, bool aligned)
    {
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w, dtype: ScalarType.Float64);
        var rois = MixedRois(b, h, w, scale, seed: h * 31 + w);
        var reference = RoiAlign.Reference(x, rois, output, output, scale, sampling, aligned);
        foreach (var form in Forms)
        {
            var fast = form(x, rois, output, output, scale, sampling, aligned);
            Assert.Equal(new long[] { rois.shape[0], c, output, output }, fast.shape);
            Assert.True(allclose(fast, reference, rtol: 1e-12, atol: 1e-12), $"max diff {(fast - reference).abs().max().item<double>()}");
            // float32 input: the same op up to single-precision rounding.
            var fast32 = form(x.to(ScalarType.Float32), rois.to(ScalarType.Float32), output, output, scale, sampling, aligned);
            Assert.Equal(ScalarType.Float32, fast32.dtype);
            Assert.True(allclose(fast32.to(ScalarType.Float64), reference, rtol: 1e-5, atol: 1e-5));
        }
    }

    [Fact]
    public void Wholly_outside_and_degenerate_boxes_give_zeros_and_a_constant_map_gives_the_constant_inside()
    {
        using var scope = NewDisposeScope();
        var x = full(new long[] { 1, 2, 6, 6 }, 3.0, dtype: ScalarType.Float64);
        var rois = Rois([0, 20, 20, 30, 30], [0, 2, 2, 2, 4], [0, 1, 1, 5, 5]);
        var y = RoiAlign.Apply(x, rois, 7, 7, 1.0);
        Assert.Equal(0.0, y[0].abs().max().item<double>());
        Assert.Equal(0.0, y[1].abs().max().item<double>());           // zero width: empty sampling grid
        Assert.True(allclose(y[2], full_like(y[2], 3.0)));              // every sample inside the map
    }

    [Fact]
    public void Hand_computed_bins_of_a_ramp()
    {
        // x[i, j] = 10 i + j is bilinear-exact: a sample at (y, x) inside [0, H-1]×[0, W-1] reads 10 y + x.
        // Box (x1, y1, x2, y2) = (1, 1, 3, 5) with aligned=True is (0.5, 0.5)–(4.5, 2.5) on the map; a 2×2 output has bins of 2×1 pixels,
        // adaptive grid ceil(4/2)=2 rows by ceil(2/2)=1 column; bin (0, 0) samples y ∈ {1, 2} at x = 1, i.e. its centre.
        using var scope = NewDisposeScope();
        var x = (arange(6, dtype: ScalarType.Float64).view(6, 1) * 10 + arange(5, dtype: ScalarType.Float64).view(1, 5)).view(1, 1, 6, 5);
        var y = RoiAlign.Apply(x, Rois([0, 1, 1, 3, 5]), 2, 2, 1.0);
        // Bin centres: y = 0.5 + 1 = 1.5 and 3.5; x = 0.5 + 0.5 = 1.0 and 2.0 → value 10 y + x.
        double[] expected = [16.0, 17.0, 36.0, 37.0];
        Assert.Equal(expected, y.flatten().data<double>().ToArray());
        // aligned=False: no half-pixel shift, the box stays (1, 1, 3, 5): centres y = 2, 4 and x = 1.5, 2.5.
        var z = RoiAlign.Apply(x, Rois([0, 1, 1, 3, 5]), 2, 2, 1.0, aligned: false);
        Assert.Equal(new[] { 21.5, 22.5, 41.5, 42.5 }, z.flatten().data<double>().ToArray());
    }

    [Fact]
    public void Samples_just_outside_the_map_clamp_and_samples_beyond_one_pixel_vanish()
    {
        // torchvision: y in [-1, 0] reads row 0; y < -1 contributes 0. One sample per bin (sampling ratio 1).
        using var scope = NewDisposeScope();
        var x = (arange(4, dtype: ScalarType.Float64).view(1, 1, 4, 1) + 1).expand(1, 1, 4, 3).contiguous(); // rows 1..4
        // Box (y) from -1.5 to 0.5 on the map (aligned shift included): two bins, centres at -1.0 and 0.0.
        var y = RoiAlign.Apply(x, Rois([0, 1, -1.0, 2, 1.0]), 2, 1, 1.0, samplingRatio: 1);
        Assert.Equal(new[] { 1.0, 1.0 }, y.flatten().data<double>().ToArray());
        var z = RoiAlign.Apply(x, Rois([0, 1, -2.0, 2, 0.0]), 2, 1, 1.0, samplingRatio: 1); // centres -2.0 and -1.0
        Assert.Equal(new[] { 0.0, 1.0 }, z.flatten().data<double>().ToArray());
    }

    [Fact]
    public void Backward_matches_finite_differences_in_float64()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 7, 6, dtype: ScalarType.Float64);
        var rois = MixedRois(2, 7, 6, 0.5, seed: 5);
        foreach (var form in Forms)
        {
            var err = Gradcheck.MaxRelativeError(a => form(a[0], rois, 7, 7, 0.5, 0, true), [x], maxElements: 252);
            Assert.True(err[0] < 1e-7, $"relative error {err[0]}");
            var err2 = Gradcheck.MaxRelativeError(a => form(a[0], rois, 3, 4, 0.5, 2, false), [x], maxElements: 252);
            Assert.True(err2[0] < 1e-7, $"relative error {err2[0]}");
        }
    }

    [Fact]
    public void Gradient_is_the_transpose_of_the_op()
    {
        // RoIAlign is linear in the features: <A x, g> = <x, Aᵀ g> for any x, g.
        using var scope = NewDisposeScope();
        var rois = MixedRois(2, 9, 8, 1.0, seed: 9);
        foreach (var form in Forms)
        {
            var x = randn(2, 2, 9, 8, dtype: ScalarType.Float64).requires_grad_(true);
            var y = form(x, rois, 7, 7, 1.0, 0, true);
            var g = randn_like(y);
            (y * g).sum().backward();
            double lhs = (y * g).sum().item<double>();
            double rhs = (x.detach() * x.grad!).sum().item<double>();
            Assert.Equal(lhs, rhs, 1e-9);
        }
    }

    [Fact]
    public void Empty_rois_give_an_empty_output()
    {
        using var scope = NewDisposeScope();
        foreach (var form in Forms)
        {
            var x = randn(1, 4, 5, 5).requires_grad_(true);
            var y = form(x, zeros(0, 5), 7, 7, 1.0, 0, true);
            Assert.Equal(new long[] { 0, 4, 7, 7 }, y.shape);
            y.sum().backward();
            Assert.Equal(0.0, x.grad!.abs().sum().item<float>());
        }
    }

    [Fact]
    public void The_kernel_switch_selects_the_gather_form()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 3, 6, 6, dtype: ScalarType.Float64);
        Assert.True(RoiAlignCpu.Applies(x));
        Assert.False(RoiAlignCpu.Applies(x.to(ScalarType.Float16)));
        using (KernelOptions.Use(KernelOptions.Default with { RoiAlignKernel = false }))
            Assert.False(RoiAlignCpu.Applies(x));
        using (KernelOptions.Use(KernelOptions.Reference))
            Assert.False(RoiAlignCpu.Applies(x));
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 5, 5);
        Assert.Contains("rois", Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, zeros(3, 4), 7, 7, 1)).Message);
        Assert.Contains("batch index", Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, Rois([2, 0, 0, 1, 1]), 7, 7, 1)).Message);
        Assert.Contains("batch index", Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, Rois([0.5, 0, 0, 1, 1]), 7, 7, 1)).Message);
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, Rois([0, double.NaN, 0, 1, 1]), 7, 7, 1)).Message);
        Assert.Contains("features", Assert.Throws<ArgumentException>(() => RoiAlign.Apply(randn(3, 5, 5), Rois([0, 0, 0, 1, 1]), 7, 7, 1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RoiAlign.Apply(x, Rois([0, 0, 0, 1, 1]), 0, 7, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => RoiAlign.Apply(x, Rois([0, 0, 0, 1, 1]), 7, 7, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RoiAlign.Apply(x, Rois([0, 0, 0, 1, 1]), 7, 7, 1, samplingRatio: -1));
    }
}

public class MultiLevelRoiAlignTests
{
    [Fact]
    public void Levels_follow_mmdetection_finest_scale_rule()
    {
        // floor(log2(sqrt(area)/56 + 1e-6)) clamped to [0, 3]: < 112 px → 0, 112–224 → 1, 224–448 → 2, ≥ 448 → 3.
        using var scope = NewDisposeScope();
        double[] sides = [10, 111.9, 112, 150, 223.9, 224, 447, 448, 2000, 0];
        var rois = tensor(sides.SelectMany(s => new[] { 0, 5, 5, 5 + s, 5 + s }).ToArray(), new long[] { sides.Length, 5 });
        var lv = MultiLevelRoiAlign.MapLevels(rois, 4).data<long>().ToArray();
        Assert.Equal(new long[] { 0, 0, 1, 1, 1, 2, 2, 3, 3, 0 }, lv);
        // Non-square: sqrt(w·h) decides (56×224 → sqrt = 112 → level 1).
        Assert.Equal(1L, MultiLevelRoiAlign.MapLevels(tensor(new double[] { 0, 0, 0, 56, 224 }).view(1, 5), 4).item<long>());
    }

    [Fact]
    public void Each_roi_reads_its_own_level_in_input_order()
    {
        using var scope = NewDisposeScope();
        int[] strides = [4, 8, 16, 32];
        var levels = strides.Select(s => randn(2, 3, 256 / s, 192 / s, dtype: ScalarType.Float64)).ToArray();
        var rois = tensor(new double[]
        {
            0, 10, 10, 300, 250,   // sqrt ≈ 264 → 2
            1, 5, 5, 40, 50,       // ≈ 40 → 0
            0, 20, 30, 170, 160,   // ~140 → 1
            1, 0, 0, 192, 256,     // ~222 → 1
            0, -50, -50, 500, 600, // huge → 3
        }, new long[] { 5, 5 });
        var extractor = new MultiLevelRoiAlign(7, strides);
        var y = extractor.Apply(levels, rois);
        var lv = MultiLevelRoiAlign.MapLevels(rois, 4).data<long>().ToArray();
        Assert.Equal(new long[] { 2, 0, 1, 1, 3 }, lv);
        for (int i = 0; i < 5; i++)
        {
            var expected = RoiAlign.Reference(levels[lv[i]], rois[i..(i + 1)], 7, 7, 1.0 / strides[lv[i]]);
            Assert.True(allclose(y[i..(i + 1)], expected, rtol: 1e-12, atol: 1e-12), $"roi {i}");
        }
    }

    [Fact]
    public void Wrong_level_count_is_an_error()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => new MultiLevelRoiAlign(7, [4, 8]).Apply([randn(1, 2, 4, 4)], zeros(1, 5)));
        Assert.Contains("2 feature levels", e.Message);
    }
}
