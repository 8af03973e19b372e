using VisionSsm.Analysis;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

public class ResNetTests
{
    static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void ResNet50MatchesTorchvisionCountKeysAndMacs()
    {
        using var m = ModelZoo.Create("resnet50");
        Assert.Equal(25_557_032, Params(m));   // torchvision resnet50
        var keys = m.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight",
                     "layer2.3.conv2.weight", "layer4.2.bn3.num_batches_tracked", "fc.weight", "fc.bias" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain("layer1.0.downsample.0.bias", keys);
        var r = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Fvcore);
        Assert.InRange(r.GFlops, 4.05, 4.15);   // torchvision: 4.09 GFLOPS (MACs); commonly quoted 4.1G
    }

    [Fact]
    public void ResNet101AndBiasedShortcutSkeleton()
    {
        using var r101 = ModelZoo.Create("resnet101");
        Assert.Equal(44_549_160, Params(r101));   // torchvision resnet101
        // vGamba/BoTNet skeleton: torchvision's count + the 4 shortcut-conv biases (256+512+1024+2048 = 3,840).
        using var skel = new ResNet(new ResNetConfig([3, 4, 6, 3]).AsBotSkeleton(), new ModelOptions());
        Assert.Equal(25_560_872, Params(skel));
        Assert.Contains("layer3.0.shortcut.0.bias", skel.state_dict().Keys);
        Assert.Contains("fc.1.weight", skel.state_dict().Keys);
    }

    [Fact]
    public void Bot50CountsAndKeys()
    {
        using var m = ModelZoo.Create("bot50");
        Assert.Equal(20_875_560, Params(m));   // docs/models/baselines.md, "BoTNet-50" (paper: 20.8M)
        var keys = m.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "layer4.0.conv2.0.Q.weight", "layer4.0.conv2.0.rel_h", "layer4.2.conv2.0.V.bias", "layer4.0.shortcut.0.bias" })
            Assert.Contains(k, keys);
        Assert.Equal(new long[] { 1, 4, 128, 1, 14 }, m.state_dict()["layer4.0.conv2.0.rel_h"].shape);
        Assert.Equal(new long[] { 1, 4, 128, 7, 1 }, m.state_dict()["layer4.1.conv2.0.rel_w"].shape);
        var r = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Thop);
        Assert.Equal(20_846_888, r.VisibleParameters);   // thop does not see rel_h/rel_w
        Assert.InRange(r.GFlops, 4.01, 4.03);            // docs/models/baselines.md: 4.02 GMACs (thop)
    }

    [Fact]
    public void IntermediatesAreTheFourStageMaps()
    {
        using var m = ModelZoo.Create("resnet_nano", new ModelOptions(10, InChannels: 1, ImageSize: 28));
        var f = m.ForwardIntermediates(randn(2, 1, 28, 28));
        Assert.Equal(4, f.Count);
        Assert.Equal(new long[] { 2, 64, 28, 28 }, f[0].shape);
        Assert.Equal(new long[] { 2, 512, 4, 4 }, f[3].shape);
        Assert.Equal(new long[] { 2, 10 }, m.call(randn(2, 1, 32, 32)).shape);   // plain ResNets take any size
        Assert.Throws<ArgumentException>(() => m.call(randn(2, 3, 28, 28)));
    }
}
