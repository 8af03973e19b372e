using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// FLOP formulas of the layers <see cref="FlopCounter"/> counts as a whole, from their config and input shape. Each
/// charges what fvcore / thop see when the upstream PyTorch layer runs: submodules called as modules (conv, linear,
/// norm; thop's parameters are theirs), plus in fvcore the functional matmuls and the selective scan (docs/models/vmamba.md §8,
/// docs/models/vim.md §8). Fused kernels compute the same products, so one formula serves every kernel.
/// </summary>
static class LayerFlops
{
    public static bool CountsAsWhole(nn.Module m) =>
        m is Mamba or BiMamba or SS2D or GambaBlock or GambaCell or BotMhsa2d or GatedFusion or Linear2d or LayerNorm2d or VitAttention;

    public static void CountWhole(FlopCounter c, nn.Module m, Tensor input, Tensor output)
    {
        switch (m)
        {
            case Mamba mamba: CountMamba(c, mamba, input.shape[0], input.shape[1]); break;
            case BiMamba bi: CountBiMamba(c, bi, input.shape[0], input.shape[1]); break;
            case SS2D ss2d: CountSs2d(c, ss2d, input.shape[0], input.shape[2] * input.shape[3]); break;
            case GambaBlock block: CountGambaBlock(c, block, input.shape[0]); break;
            case GambaCell cell: CountGambaCell(c, cell, input.shape[0]); break;
            case BotMhsa2d mhsa: CountBotMhsa2d(c, mhsa, input.shape[0]); break;
            case Linear2d linear:
                // fvcore counts the 1×1 aten::_convolution: numel(out)·in, bias not counted (§2.8).
                c.Add("conv", output.numel() * linear.InFeatures);
                c.MarkVisible(linear);
                break;
            case LayerNorm2d norm:
                c.Add("norm", 5 * input.numel());   // fvcore: 5·numel with affine (§2.8)
                c.MarkVisible(norm);
                break;
            case VitAttention attention: CountVitAttention(c, attention, input.shape[0], input.shape[1], input.shape[2]); break;
            default: throw new NotSupportedException(m.GetType().Name);
        }
    }

    static Dictionary<string, nn.Module> Children(nn.Module m) => m.named_children().ToDictionary(p => p.name, p => p.module);

    /// <summary>A Linear called as a module on <paramref name="rows"/> rows: rows·out·in MACs (timm/fvcore/thop alike).</summary>
    static void LinearModule(FlopCounter c, nn.Module linear, long rows)
    {
        var w = linear.get_parameter("weight")!;
        c.Add("linear", rows * w.shape[0] * w.shape[1]);
        c.MarkVisible(linear);
    }

    /// <summary>A 1×1 Conv2d called as a module on <paramref name="positions"/> positions (batch included).</summary>
    static void PointwiseConvModule(FlopCounter c, nn.Module conv, long positions)
    {
        var w = conv.get_parameter("weight")!;
        c.Add("conv", positions * w.shape[0] * w.shape[1]);
        c.MarkVisible(conv);
    }

    /// <summary>A conv1d called as a module: numel(out)·(C_in/groups)·k with out length L + 2·pad − k + 1.</summary>
    static void Conv1dModule(FlopCounter c, nn.Module conv, long batch, long length, long padding)
    {
        var w = conv.get_parameter("weight")!;
        long k = w.shape[2];
        c.Add("conv", batch * w.shape[0] * (length + 2 * padding - k + 1) * w.shape[1] * k);
        c.MarkVisible(conv);
    }

    /// <summary>
    /// One direction of mamba_simple's slow path (§4) after in_proj: causal conv1d (padding d_conv − 1, module),
    /// x_proj (module), dt_proj's weight as a matmul (functional), the z-gated scan with D.
    /// </summary>
    static void MambaDirection(FlopCounter c, MambaConfig cfg, nn.Module conv1d, nn.Module xProj, long batch, long length)
    {
        Conv1dModule(c, conv1d, batch, length, cfg.DConv - 1);
        LinearModule(c, xProj, batch * length);
        c.AddMatmul("linear", batch, cfg.DInner, cfg.Rank, length);
        c.AddScan(batch, length, cfg.DInner, cfg.DState, withD: true, withZ: true);
    }

    /// <summary>Mamba (§4): in_proj as a functional matmul (fvcore only; thop sees neither its FLOPs nor its weight).</summary>
    static void CountMamba(FlopCounter c, Mamba m, long batch, long length)
    {
        var cfg = m.Config;
        var ch = Children(m);
        c.AddMatmul("linear", batch, 2L * cfg.DInner, cfg.DModel, length);
        MambaDirection(c, cfg, ch["conv1d"], ch["x_proj"], batch, length);
        LinearModule(c, ch["out_proj"], batch * length);
    }

    /// <summary>Vim's bimamba v2 (§3.4): shared in_proj and out_proj, two directions.</summary>
    static void CountBiMamba(FlopCounter c, BiMamba m, long batch, long length)
    {
        var cfg = m.Config;
        var ch = Children(m);
        c.AddMatmul("linear", batch, 2L * cfg.DInner, cfg.DModel, length);
        MambaDirection(c, cfg, ch["conv1d"], ch["x_proj"], batch, length);
        MambaDirection(c, cfg, ch["conv1d_b"], ch["x_proj_b"], batch, length);
        LinearModule(c, ch["out_proj"], batch * length);
    }

    /// <summary>
    /// SS2D (§2.6, §2.8): in_proj and out_proj as 1×1 convs, the depthwise 3×3 conv, x_proj and dt_projs as grouped
    /// conv1d over the K routes (fvcore counts aten::_convolution), the scan over K·Di channels, out_norm.
    /// </summary>
    static void CountSs2d(FlopCounter c, SS2D m, long batch, long positions)
    {
        var cfg = m.Config;
        var ch = Children(m);
        long di = cfg.DInner, r = cfg.Rank, n = cfg.DState, k = Ss2dConfig.Routes;
        PointwiseConvModule(c, ch["in_proj"], batch * positions);
        var conv = ch["conv2d"];
        c.Add("conv", batch * di * positions * 9);
        c.MarkVisible(conv);
        c.Add("conv", batch * k * (r + 2 * n) * di * positions);
        c.Add("conv", batch * k * di * r * positions);
        c.AddScan(batch, positions, k * di, n, withD: true, withZ: false);
        // The cascade runs the same projections and scans over rows then columns (the same totals), plus two
        // layer norms without affine parameters, 4·numel each in fvcore.
        if (cfg.Pattern == Ops.ScanPattern.Cascade) c.Add("norm", 2 * 4 * batch * di * positions);
        c.Add("norm", 5 * batch * di * positions);
        c.MarkVisible(ch["out_norm"]);
        PointwiseConvModule(c, ch["out_proj"], batch * positions);
    }

    /// <summary>vGamba's Gamba cell (§5.2): the Mamba on Np tokens (twice when bidirectional) and the k-3 context conv.</summary>
    static void CountGambaCell(FlopCounter c, GambaCell m, long batch)
    {
        var ch = Children(m);
        long np = (long)m.Side * m.Side;
        var mamba = (Mamba)ch["mamba_block"];
        for (int i = 0; i < (m.Options.Bidirectional ? 2 : 1); i++) CountMamba(c, mamba, batch, np);
        if (ch.TryGetValue("gate", out var gate))
            foreach (var (_, layer) in gate.named_children())
                if (layer is TorchSharp.Modules.Conv1d conv) Conv1dModule(c, conv, batch, np, 1);
    }

    /// <summary>
    /// BoTNet MHSA with registers (§5.2): q, k, v 1×1 convs (modules), qᵀk and rᵀq and v·attnᵀ as matmuls, the register
    /// heads' value matmul that upstream computes and discards, and in thop the nn.Softmax over h + R heads.
    /// </summary>
    static void CountBotMhsa2d(FlopCounter c, BotMhsa2d m, long batch)
    {
        var ch = Children(m);
        long d = m.Dim / m.Heads, np = (long)m.Side * m.Side;
        foreach (var name in new[] { "Q", "K", "V" }) PointwiseConvModule(c, ch[name], batch * np);
        if (c.Convention == FlopConvention.Thop)
            c.Add("softmax", batch * (m.Heads + m.RegisterTokens) * np * (3 * np - 1));
        c.AddMatmul("attention", batch * m.Heads, np, d, np);              // qᵀk
        c.AddMatmul("attention", batch * m.Heads, np, d, np);              // rᵀq
        c.AddMatmul("attention", batch * m.Heads, d, np, np);              // v·attnᵀ
        c.AddMatmul("attention", batch * m.RegisterTokens, d, np, np);     // register heads' v·attnᵀ
    }

    /// <summary>vGamba's Gating (§5.2): proj_a and proj_b 1×1 convs, the shared 1-channel gate conv applied to both.</summary>
    static void CountGatedFusion(FlopCounter c, GatedFusion m, long batch, long positions)
    {
        var ch = Children(m);
        PointwiseConvModule(c, ch["proj_a"], batch * positions);
        PointwiseConvModule(c, ch["proj_b"], batch * positions);
        PointwiseConvModule(c, ch["gate"], 2 * batch * positions);
    }

    /// <summary>The Gamba block (§5.2): its branches as <see cref="GambaMixer"/> wires them.</summary>
    static void CountGambaBlock(FlopCounter c, GambaBlock m, long batch)
    {
        var ch = Children(m);
        if (ch.TryGetValue("ggnn", out var cell)) CountGambaCell(c, (GambaCell)cell, batch);
        if (ch.TryGetValue("mhsa", out var mhsa)) CountBotMhsa2d(c, (BotMhsa2d)mhsa, batch);
        if (ch.TryGetValue("gating", out var gating))
        {
            long side = ((BotMhsa2d)ch["mhsa"]).Side;
            CountGatedFusion(c, (GatedFusion)gating, batch, side * side);
        }
    }

    /// <summary>timm Attention: qkv and proj (modules) and, in fvcore, q kᵀ and attn·v as matmuls (thop does not see them).</summary>
    static void CountVitAttention(FlopCounter c, VitAttention m, long batch, long tokens, long dim)
    {
        var ch = Children(m);
        long d = dim / m.Heads;
        LinearModule(c, ch["qkv"], batch * tokens);
        c.AddMatmul("attention", batch * m.Heads, tokens, d, tokens);   // q kᵀ
        c.AddMatmul("attention", batch * m.Heads, tokens, tokens, d);   // attn v
        LinearModule(c, ch["proj"], batch * tokens);
    }
}
