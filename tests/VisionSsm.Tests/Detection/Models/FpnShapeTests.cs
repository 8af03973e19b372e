using TorchSharp;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

public class FpnShapeTests(ITestOutputHelper output)
{
    [Theory]
    // One small backbone per family; odd sizes. Fixed-size backbones (vGamba, Vim, DeiT) are built for 48² and get the
    // input zero-padded to it, so their maps follow 48.
    [InlineData("vmamba_nano", new[] { 0, 1, 2, 3 }, true, false, 37, 45, null)]
    [InlineData("resnet_nano", new[] { 0, 1, 2, 3 }, false, false, 33, 29, null)]
    [InlineData("vgamba_nano", new[] { 0, 1, 2 }, false, false, 41, 35, 48)]
    [InlineData("vim_nano", new[] { 1, 2, 4, 5 }, false, true, 39, 47, 48)]
    [InlineData("deit_nano", new[] { 0, 1, 2, 3 }, false, true, 45, 37, 48)]
    public void Fpn_levels_have_the_expected_shapes(string backbone, int[] indices, bool outNorms, bool pyramid, int h, int w, int? fixedSide)
    {
        var cfg = MaskRcnnTests.Tiny(backbone, outNorms) with { FeatureIndices = indices, Pyramid = pyramid, DropChildren = null };
        using var model = new MaskRcnn(cfg, new ModelOptions(NumClasses: 3, ImageSize: fixedSide));
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var feats = model.ExtractFeatures(randn(1, 3, h, w));
        output.WriteLine($"{backbone}: strides [{string.Join(", ", model.Strides)}], maps " + string.Join(" ", feats.Select(f => $"{f.shape[2]}×{f.shape[3]}")));
        Assert.Equal(indices.Length + 1, feats.Count);
        int hh = fixedSide ?? h, ww = fixedSide ?? w;
        for (int l = 0; l < feats.Count; l++)
        {
            int s = model.Strides[l];
            Assert.Equal(new long[] { 1, 16, (hh + s - 1) / s, (ww + s - 1) / s }, feats[l].shape);
        }
    }
}
