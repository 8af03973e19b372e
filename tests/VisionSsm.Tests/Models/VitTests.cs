using VisionSsm.Analysis;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

public class VitTests
{
    static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void DeitSmallHasTimmParameterCountAndKeys()
    {
        using var m = ModelZoo.Create("deit_small");
        // DeiT paper / timm deit_small_patch16_224: 22,050,664 parameters.
        Assert.Equal(22_050_664, Params(m));
        var keys = m.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.norm1.weight", "blocks.11.attn.qkv.weight",
                     "blocks.3.attn.proj.bias", "blocks.5.norm2.bias", "blocks.7.mlp.fc1.weight", "blocks.7.mlp.fc2.bias", "norm.weight", "head.weight" })
            Assert.Contains(k, keys);
        Assert.Equal(new long[] { 1, 197, 384 }, m.state_dict()["pos_embed"].shape);
    }

    [Fact]
    public void DeitBaseParameterCount()
    {
        using var m = ModelZoo.Create("deit_base");
        Assert.Equal(86_567_656, Params(m));   // timm deit_base_patch16_224
    }

    [Fact]
    public void DeitSmallFvcoreFlopsIncludeAttentionMatmuls()
    {
        using var m = ModelZoo.Create("deit_small");
        var r = FlopCounter.Count(m, [1, 3, 224, 224], FlopConvention.Fvcore);
        // Attention matmuls: 12 blocks · 2 · 197² · 384 MACs.
        Assert.Equal(12L * 2 * 197 * 197 * 384, r.ByCategory["attention"]);
        Assert.InRange(r.GFlops, 4.55, 4.65);   // DeiT paper: 4.6 GFLOPs
    }

    [Fact]
    public void AttentionMatchesExplicitSoftmaxTwin()
    {
        var attn = new VitAttention(16, 4);
        var x = randn(2, 5, 16);
        var sd = attn.state_dict();
        // Slow twin: softmax(q kᵀ / √d) v with explicit matmuls.
        var qkv = matmul(x, sd["qkv.weight"].t()) + sd["qkv.bias"];
        var q = qkv.narrow(2, 0, 16).reshape(2, 5, 4, 4).transpose(1, 2);
        var k = qkv.narrow(2, 16, 16).reshape(2, 5, 4, 4).transpose(1, 2);
        var v = qkv.narrow(2, 32, 16).reshape(2, 5, 4, 4).transpose(1, 2);
        var a = softmax(matmul(q, k.transpose(-1, -2)) / 2.0, -1);
        var o = matmul(a, v).transpose(1, 2).reshape(2, 5, 16);
        var expected = matmul(o, sd["proj.weight"].t()) + sd["proj.bias"];
        Assert.True(allclose(attn.call(x), expected, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void OtherImageSizeNeedsRebuildAndResampleKeepsClassToken()
    {
        using var m = ModelZoo.Create("deit_nano", new ModelOptions(10, InChannels: 1, ImageSize: 32));
        Assert.Equal(new long[] { 2, 10 }, m.call(randn(2, 1, 32, 32)).shape);
        var ex = Assert.Throws<ArgumentException>(() => m.call(randn(2, 1, 28, 28)));
        Assert.Contains("32", ex.Message);
        var pos = randn(1, 1 + 49, 8);
        var same = Vit.ResamplePositionEmbedding(pos, 7);
        Assert.True(allclose(same, pos, atol: 1e-5));
        var bigger = Vit.ResamplePositionEmbedding(pos, 8);
        Assert.Equal(new long[] { 1, 65, 8 }, bigger.shape);
        Assert.True(allclose(bigger.narrow(1, 0, 1), pos.narrow(1, 0, 1), rtol: 0, atol: 0));
    }
}
