using VisionSsm.Detection.Boxes;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Boxes;

public class DeltaXywhCoderTests
{
    [Fact]
    public void Encode_by_hand()
    {
        // Proposal (0,0,10,20): centre (5,10), size 10×20. Target (2,4,22,24): centre (12,14), size 20×20.
        // dx = 7/10, dy = 4/20, dw = log 2, dh = log 1 = 0; R-CNN stds (.1,.1,.2,.2) divide them.
        using var scope = NewDisposeScope();
        var p = tensor(new double[] { 0, 0, 10, 20 }).view(1, 4);
        var g = tensor(new double[] { 2, 4, 22, 24 }).view(1, 4);
        var d = DeltaXywhCoder.Rpn.Encode(p, g).flatten().data<double>().ToArray();
        Assert.Equal(0.7, d[0], 12); Assert.Equal(0.2, d[1], 12); Assert.Equal(Math.Log(2), d[2], 12); Assert.Equal(0.0, d[3], 12);
        var r = DeltaXywhCoder.Rcnn.Encode(p, g).flatten().data<double>().ToArray();
        Assert.Equal(7.0, r[0], 12); Assert.Equal(2.0, r[1], 12); Assert.Equal(Math.Log(2) / 0.2, r[2], 12); Assert.Equal(0.0, r[3], 12);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Decode_inverts_encode(bool rcnn)
    {
        using var scope = NewDisposeScope();
        var coder = rcnn ? DeltaXywhCoder.Rcnn : DeltaXywhCoder.Rpn;
        var g = new Generator(3);
        var xy = rand(new long[] { 200, 2 }, generator: g, dtype: ScalarType.Float64) * 500;
        var p = cat([xy, xy + rand(new long[] { 200, 2 }, generator: g, dtype: ScalarType.Float64) * 200 + 1], 1);
        // Targets within a factor 10 of the proposals' sizes (inside the 62.5× clip).
        var txy = xy + randn(new long[] { 200, 2 }, generator: g, dtype: ScalarType.Float64) * 20;
        var t = cat([txy, txy + (p[.., 2..] - p[.., ..2]) * (rand(new long[] { 200, 2 }, generator: g, dtype: ScalarType.Float64) * 3 + 0.3)], 1);
        var back = coder.Decode(p, coder.Encode(p, t));
        Assert.True(allclose(back, t, rtol: 1e-10, atol: 1e-9));
        // float32, as training runs it.
        var back32 = coder.Decode(p.to(ScalarType.Float32), coder.Encode(p.to(ScalarType.Float32), t.to(ScalarType.Float32)));
        Assert.True(allclose(back32.to(ScalarType.Float64), t, rtol: 1e-4, atol: 1e-2));
    }

    [Fact]
    public void Decode_clamps_log_sizes_clips_to_the_image_and_handles_several_classes()
    {
        using var scope = NewDisposeScope();
        var rois = tensor(new double[] { 10, 10, 20, 20 }).view(1, 4);
        // Class 0: dw = 100 (clamped to |log(16/1000)| = log 62.5) → width 10 · 62.5 = 625 about centre 15.
        // Class 1: zero deltas → the roi itself.
        var deltas = tensor(new double[] { 0, 0, 100, 0, 0, 0, 0, 0 }).view(1, 8);
        var b = DeltaXywhCoder.Rpn.Decode(rois, deltas).flatten().data<double>().ToArray();
        Assert.Equal(15 - 312.5, b[0], 9); Assert.Equal(15 + 312.5, b[2], 9); Assert.Equal(10, b[1], 12); Assert.Equal(20, b[3], 12);
        Assert.Equal(new double[] { 10, 10, 20, 20 }, b[4..]);
        var c = DeltaXywhCoder.Rpn.Decode(rois, deltas, imageHeight: 30, imageWidth: 40).flatten().data<double>().ToArray();
        Assert.Equal(new double[] { 0, 10, 40, 20, 10, 10, 20, 20 }, c);
    }

    [Fact]
    public void Bad_arguments()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => new DeltaXywhCoder([0, 0, 0], [1, 1, 1, 1]));
        Assert.Throws<ArgumentException>(() => new DeltaXywhCoder([0, 0, 0, 0], [1, 0, 1, 1]));
        Assert.Contains("deltas", Assert.Throws<ArgumentException>(() => DeltaXywhCoder.Rpn.Decode(zeros(2, 4), zeros(2, 5))).Message);
        Assert.Contains("targets", Assert.Throws<ArgumentException>(() => DeltaXywhCoder.Rpn.Encode(zeros(2, 4), zeros(3, 4))).Message);
    }
}

public class AnchorGeneratorTests
{
    [Fact]
    public void Base_anchors_of_the_mask_rcnn_setting()
    {
        // Stride 4, scale 8 → 32 px; ratio r = h/w keeps the area: w = 32/√r, h = 32·√r; centred at 0, no rounding.
        using var scope = NewDisposeScope();
        var gen = AnchorGenerator.MaskRcnn;
        Assert.Equal(3, gen.AnchorsPerCell);
        var a = gen.BaseAnchors(0, ScalarType.Float64).data<double>().ToArray();
        double s = Math.Sqrt(2);
        double[] expected = [-16 * s, -16 / s, 16 * s, 16 / s, -16, -16, 16, 16, -16 / s, -16 * s, 16 / s, 16 * s];
        for (int i = 0; i < 12; i++) Assert.Equal(expected[i], a[i], 12);
        // Level 4 (stride 64): 512 px square anchor for ratio 1.
        var top = gen.BaseAnchors(4, ScalarType.Float64)[1].data<double>().ToArray();
        Assert.Equal(new double[] { -256, -256, 256, 256 }, top);
    }

    [Fact]
    public void Grid_anchors_are_row_major_cells_then_ratios()
    {
        using var scope = NewDisposeScope();
        var gen = new AnchorGenerator([8], [0.5, 1, 2], [2, 4], centerOffset: 0.5);
        var baseA = gen.BaseAnchors(0, ScalarType.Float64);
        var grid = gen.GridAnchors(0, height: 3, width: 5, ScalarType.Float64);
        Assert.Equal(new long[] { 3 * 5 * 6, 4 }, grid.shape);
        // Cell (y=2, x=1) is cell 11; its anchors are the base ones shifted by (8, 16).
        var shift = tensor(new double[] { 8, 16, 8, 16 });
        Assert.True(allclose(grid[(11 * 6)..(12 * 6)], baseA + shift));
        // Centre offset 0.5: the ratio-1, scale-2 anchor (index 2: ratio-major, then scale) of cell 0 is centred at (4, 4), side 16.
        Assert.Equal(new double[] { -4, -4, 12, 12 }, baseA[2].data<double>().ToArray());
    }

    [Fact]
    public void Valid_flags_cover_the_unpadded_part()
    {
        using var scope = NewDisposeScope();
        var gen = AnchorGenerator.MaskRcnn;
        // Image 30×50 padded to 32×64: stride 8 → map 4×8, valid ceil(30/8)=4 rows × ceil(50/8)=7 columns.
        var f = gen.ValidFlags(1, 4, 8, 30, 50).data<bool>().ToArray();
        Assert.Equal(4 * 8 * 3, f.Length);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 8; x++)
                for (int j = 0; j < 3; j++) Assert.Equal(x < 7, f[(y * 8 + x) * 3 + j]);
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.BaseAnchors(5));
    }
}
