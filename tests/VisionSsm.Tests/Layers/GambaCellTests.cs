using TorchSharp;
using VisionSsm.Layers;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class GambaCellTests
{
    /// <summary>The cell's (B, Np, c) sequence output written from its parts: (t + pos) → Mamba ⊙ σ(conv1d(t)).</summary>
    static Tensor Sequence(GambaCell cell, Tensor x)
    {
        var sd = cell.state_dict();
        long b = x.shape[0], c = cell.Dim, s = cell.Side;
        var t = x.flatten(2).transpose(1, 2);
        var pos = zeros(1, s * s, c);
        for (int a = 0; a < s; a++)
        for (int q = 0; q < s; q++)
            pos[0, a * s + q] = sd["rel_w"][0, TensorIndex.Colon, a, 0] + sd["rel_h"][0, TensorIndex.Colon, 0, q];   // pos[a·S+q] = rel_w[a] + rel_h[q]
        t = t + pos;
        var mamba = cell.named_modules().First(n => n.name == "mamba_block").module as Mamba;
        var m = mamba!.call(t);
        var mask = sigmoid(nn.functional.conv1d(t.transpose(1, 2), sd["gate.0.weight"], sd["gate.0.bias"], padding: 1)).transpose(1, 2);
        return m * mask;
    }

    [Fact]
    public void FaithfulIsTheRawReshapeAndFixedKeepsPositionChannelMapping()
    {
        var faithful = new GambaCell(6, 3, new GambaCellOptions(DState: 4));
        var fixedCell = new GambaCell(6, 3, new GambaCellOptions(DState: 4, FixLayout: true));
        fixedCell.load_state_dict(faithful.state_dict());
        var x = randn(2, 6, 3, 3);
        var seq = Sequence(faithful, x);                                   // (B, Np, c)
        // model.py's quirk: o.view(B, c, S, S) on the contiguous (B, Np, c) memory.
        Assert.True(allclose(faithful.call(x), seq.contiguous().view(2, 6, 3, 3), rtol: 1e-4, atol: 1e-5));
        // Fixed: output[b, ch, a, q] is the sequence value of position a·S + q, channel ch.
        var fx = fixedCell.call(x);
        for (int a = 0; a < 3; a++)
        for (int q = 0; q < 3; q++)
            Assert.True(allclose(fx[TensorIndex.Colon, TensorIndex.Colon, a, q], seq[TensorIndex.Colon, a * 3 + q], rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void FixedLayoutIsCausalPerPositionFaithfulIsScrambled()
    {
        var faithful = new GambaCell(4, 4, new GambaCellOptions(DState: 4));
        var fixedCell = new GambaCell(4, 4, new GambaCellOptions(DState: 4, FixLayout: true));
        fixedCell.load_state_dict(faithful.state_dict());
        var x = randn(1, 4, 4, 4);
        var x2 = x.clone();
        x2[0, TensorIndex.Colon, 3, 3] += 1.0;   // perturb the last raster position only
        // Causal Mamba + k3 mask: with the fixed layout, positions 0..13 (before the last two) cannot change.
        var dFixed = (fixedCell.call(x2) - fixedCell.call(x)).abs().flatten(2)[0];   // (c, Np)
        Assert.True(dFixed.narrow(1, 0, 14).max().item<float>() == 0f);
        Assert.True(dFixed.narrow(1, 15, 1).max().item<float>() > 0f);
        // The raw reshape spreads the last position's channels over the last c entries of the flat buffer, i.e. into
        // channel 3 at spatial positions 12..15, so spatial position 15 of channels 0..2 is unchanged.
        var dRaw = (faithful.call(x2) - faithful.call(x)).abs().flatten(2)[0];
        Assert.True(dRaw.narrow(0, 3, 1).narrow(1, 8, 4).max().item<float>() > 0f);
        Assert.True(dRaw.narrow(0, 0, 3).narrow(1, 15, 1).max().item<float>() == 0f);
    }

    [Fact]
    public void SwitchesRemoveTheirParameters()
    {
        var cell = new GambaCell(8, 4, new GambaCellOptions(DState: 4, PositionalEmbedding: false, ContextMask: false));
        var keys = cell.state_dict().Keys;
        Assert.DoesNotContain("rel_h", keys);
        Assert.DoesNotContain("gate.0.weight", keys);
        Assert.Equal(Mamba.ParameterCount(new MambaConfig(8, DState: 4)), cell.parameters().Sum(p => p.numel()));
        var bi = new GambaCell(8, 4, new GambaCellOptions(DState: 4, FixLayout: true, Bidirectional: true));
        var x = randn(1, 8, 4, 4);
        var x2 = x.clone();
        x2[0, TensorIndex.Colon, 3, 3] += 1.0;
        // Bidirectional: the first position now sees the last one.
        Assert.True((bi.call(x2) - bi.call(x)).abs()[0, TensorIndex.Colon, 0, 0].max().item<float>() > 0f);
    }

    [Fact]
    public void GatedFusionUsesOneSharedGate()
    {
        var g = new GatedFusion(3, 4);
        var sd = g.state_dict();
        Assert.Equal(new long[] { 1, 4, 1, 1 }, sd["gate.weight"].shape);
        var a = randn(2, 3, 2, 2); var b = randn(2, 3, 2, 2);
        var pa = nn.functional.conv2d(a, sd["proj_a.weight"], sd["proj_a.bias"]);
        var pb = nn.functional.conv2d(b, sd["proj_b.weight"], sd["proj_b.bias"]);
        var expected = sigmoid(nn.functional.conv2d(pa, sd["gate.weight"], sd["gate.bias"])) * pa
                     + sigmoid(nn.functional.conv2d(pb, sd["gate.weight"], sd["gate.bias"])) * pb;
        Assert.True(allclose(g.call(a, b), expected, rtol: 1e-5, atol: 1e-6));
        using (no_grad())                                                       // inference: the ChannelGate kernel
        {
            Assert.True(allclose(g.call(a, b), expected, rtol: 1e-5, atol: 1e-6));
            var addend = randn(2, 4, 2, 2);
            Assert.True(allclose(g.GatedA(a, addend), g.GatedA(a) + addend, rtol: 1e-6, atol: 1e-6));
        }
    }
}
