using TorchSharp;
using VisionSsm.Analysis;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

public class VimTests
{
    static Vim Create(string name, ModelOptions? options = null) => (Vim)ModelZoo.Create(name, options ?? new ModelOptions());

    [Theory]
    [InlineData("vim_tiny", 7_148_008L)]     // docs/models/vim.md §1 [verified]
    [InlineData("vim_small", 25_796_584L)]
    [InlineData("vim_base", 97_598_440L)]
    public void ParameterCountsMatchTheOfficialModels(string name, long expected)
    {
        using var model = Create(name);
        long count = model.parameters().Sum(p => p.numel());
        Assert.Equal(expected, count);
        Assert.Equal(expected, model.Config.ParameterCount());
    }

    [Fact]
    public void PerLayerCountFollowsTheSpecFormula()
    {
        // docs/models/vim.md §1: D·4D + 2×[8D+2D conv + 2D(R+32) x_proj + 2D·R+2D dt_proj + 2D·16 A_log + 2D D] + 2D·D + D; Ti = 282,048.
        foreach (var (d, r) in new[] { (192L, 12L), (384L, 24L), (768L, 48L) })
        {
            long formula = d * 4 * d + 2 * (8 * d + 2 * d + 2 * d * (r + 32) + 2 * d * r + 2 * d + 2 * d * 16 + 2 * d) + 2 * d * d + d;
            using var block = new VimBlock(new MambaConfig((int)d), 0, 1e-5);
            Assert.Equal(formula, block.parameters().Sum(p => p.numel()));
        }
        Assert.Equal(282_048L, 192L * 4 * 192 + 2 * (10 * 192 + 2 * 192 * 44 + 2 * 192 * 12 + 2 * 192 + 2 * 192 * 16 + 2 * 192) + 2 * 192 * 192 + 192);
    }

    [Fact]
    public void StateDictKeysAndShapesAreTheOfficialOnes()
    {
        using var model = Create("vim_tiny");
        const long D = 192, R = 12;
        var expected = new Dictionary<string, long[]>
        {
            ["cls_token"] = [1, 1, D], ["pos_embed"] = [1, 197, D],
            ["patch_embed.proj.weight"] = [D, 3, 16, 16], ["patch_embed.proj.bias"] = [D],
            ["head.weight"] = [1000, D], ["head.bias"] = [1000], ["norm_f.weight"] = [D],
        };
        for (int i = 0; i < 24; i++)
        {
            string p = $"layers.{i}.";
            expected[p + "norm.weight"] = [D];
            expected[p + "mixer.in_proj.weight"] = [4 * D, D];
            foreach (var s in new[] { "", "_b" })
            {
                expected[p + $"mixer.conv1d{s}.weight"] = [2 * D, 1, 4];
                expected[p + $"mixer.conv1d{s}.bias"] = [2 * D];
                expected[p + $"mixer.x_proj{s}.weight"] = [R + 32, 2 * D];
                expected[p + $"mixer.dt_proj{s}.weight"] = [2 * D, R];
                expected[p + $"mixer.dt_proj{s}.bias"] = [2 * D];
            }
            expected[p + "mixer.A_log"] = [2 * D, 16];
            expected[p + "mixer.A_b_log"] = [2 * D, 16];
            expected[p + "mixer.D"] = [2 * D];
            expected[p + "mixer.D_b"] = [2 * D];
            expected[p + "mixer.out_proj.weight"] = [D, 2 * D];
        }
        var actual = model.state_dict();
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), actual.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, shape) in expected) Assert.Equal(shape, actual[k].shape);
        Assert.IsAssignableFrom<nn.Module<Tensor, Tensor>>(model.Layers[3].Mixer);
    }

    /// <summary>
    /// Expected fvcore count from the closed form (docs/models/vmamba.md §8, docs/models/vim.md §8): per layer in_proj D·4D·T, conv 2·2D·4·(T+3) (fvcore
    /// counts the padded conv's whole output, L+3, before the causal slice), x_proj
    /// 2·2D(R+2N)·T, dt_proj 2·2D·R·T, out_proj 2D·D·T; patch embed M·D·768; head D·1000; plus two scans per layer.
    /// </summary>
    static long ExpectedFlops(long d, ScanFlopFormula formula)
    {
        long di = 2 * d, r = (d + 15) / 16, n = 16, m = 196, t = m + 1;
        long linear = d * 2 * di * t + 2 * (di * 4 * (t + 3) + di * (r + 2 * n) * t + di * r * t) + di * d * t;
        long scan = formula == ScanFlopFormula.Fn ? SelectiveScan.Flops(1, t, di, n, true, true) : ScanRefFlops.Flops(1, t, di, n, true, true);
        return 24 * (linear + 2 * scan) + m * d * 3 * 16 * 16 + d * 1000;
    }

    [Theory]
    [InlineData("vim_tiny", 192, 1.82, 1.50)]     // docs/models/vim.md §8: new formula / old flops_selective_scan_ref convention
    [InlineData("vim_small", 384, 5.91, 5.27)]
    [InlineData("vim_base", 768, 20.89, 19.6)]
    public void FlopsMatchBothConventions(string name, int d, double gNew, double gOld)
    {
        using var model = Create(name);
        var fresh = FlopCounter.Count(model, [1, 3, 224, 224], FlopConvention.Fvcore);
        Assert.Equal(ExpectedFlops(d, ScanFlopFormula.Fn), fresh.Total);
        Assert.Equal(gNew, Math.Round(fresh.GFlops, 2));
        // The old convention differs only in the scan term, so it needs no second forward pass.
        long scanNew = fresh.ByCategory["scan"];
        long old = fresh.Total - scanNew + 48 * ScanRefFlops.Flops(1, 197, 2 * d, 16, true, true);
        Assert.Equal(ExpectedFlops(d, ScanFlopFormula.Ref), old);
        int digits = gOld >= 10 ? 1 : 2;
        Assert.Equal(gOld, Math.Round(old / 1e9, digits));
    }

    [Fact]
    public void OldScanConventionIsSelectableInTheCounter()
    {
        using var model = Create("vim_nano");
        var fn = FlopCounter.Count(model, [1, 3, 28, 28], FlopConvention.Fvcore);
        var rf = FlopCounter.Count(model, [1, 3, 28, 28], FlopConvention.Fvcore, ScanFlopFormula.Ref);
        Assert.Equal(fn.Total - fn.ByCategory["scan"], rf.Total - rf.ByCategory["scan"]);
        Assert.Equal(12 * ScanRefFlops.Flops(1, 50, 192, 16, true, true), rf.ByCategory["scan"]);
    }

    [Fact]
    public void NanoRunsOnSmallImagesAndHonoursOptions()
    {
        using var gray = Create("vim_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        using var logits = gray.call(randn(2, 1, 28, 28));
        Assert.Equal([2L, 10], logits.shape);
        using var cifar = Create("vim_nano", new ModelOptions(NumClasses: 10, InChannels: 3, ImageSize: 32));
        using var l2 = cifar.call(randn(2, 3, 32, 32));
        Assert.Equal([2L, 10], l2.shape);
        Assert.Equal(65, cifar.Config.NumPatches + 1);
    }

    [Fact]
    public void NanoFitsAFixedBatch()
    {
        // Every parameter gets a gradient through the per-layer disposal of ForwardTokens, and a few AdamW steps
        // on one batch lower its loss.
        random.manual_seed(3);
        using var model = Create("vim_nano", new ModelOptions(NumClasses: 3, InChannels: 1));
        model.train();
        using var opt = optim.AdamW(model.parameters(), 3e-3);
        using var x = randn(6, 1, 28, 28);
        using var y = tensor(new long[] { 0, 1, 2, 0, 1, 2 });
        double first = 0, last = 0;
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            if (step == 0)
                foreach (var (name, p) in model.named_parameters())
                    Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"no gradient for {name}");
            opt.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.8, $"loss {first} → {last}");
    }

    [Fact]
    public void WrongInputSizeNamesTheBuiltSize()
    {
        using var model = Create("vim_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        var ex = Assert.Throws<ArgumentException>(() => model.call(zeros(1, 1, 32, 32)));
        Assert.Contains("28, 28", ex.Message);
        Assert.Throws<ArgumentException>(() => model.call(zeros(1, 3, 28, 28)));
    }

    [Fact]
    public void ClassTokenSitsInTheMiddleAndHeadReadsIt()
    {
        using var model = Create("vim_nano", new ModelOptions(NumClasses: 5, InChannels: 1));
        model.eval();
        using var x = randn(2, 1, 28, 28);
        using var tokens = model.ForwardFeatures(x);
        Assert.Equal([2L, 50, 96], tokens.shape);
        Assert.Equal(24, model.Config.ClsIndex);   // M//2 with M = 49
        using var logits = model.call(x);
        var head = (TorchSharp.Modules.Linear)model.named_children().First(c => c.name == "head").module;
        using var expected = head.call(tokens.select(1, 24));
        Assert.True(allclose(expected, logits, 1e-5, 1e-6));
        // The map is the patch tokens in raster order with the class token removed: position (1, 2) = patch 9 =
        // token 9 (before the class token), position (6, 6) = patch 48 = token 49 (after it).
        using var map = model.TokensToMap(tokens);
        Assert.Equal([2L, 96, 7, 7], map.shape);
        Assert.True(allclose(map[.., .., 1, 2], tokens[.., 9, ..]));
        Assert.True(allclose(map[.., .., 6, 6], tokens[.., 49, ..]));
    }

    [Fact]
    public void DropPathScheduleIsInterDpr()
    {
        using var model = Create("vim_nano", new ModelOptions(DropPathRate: 0.1));
        var rates = model.BlockDropPathRates;
        // docs/models/vim.md §3: inter_dpr = [0] + linspace(0, 0.1, 6): block i (i ≥ 1) gets 0.1·(i−1)/5.
        Assert.Equal(0.0, rates[0]);
        Assert.Equal(0.0, rates[1]);
        Assert.Equal(0.02, rates[2], 12);
        Assert.Equal(0.08, rates[5], 12);
    }

    [Fact]
    public void PosEmbedResamplingIsIdentityAtSameSizeAndKeepsTheClassToken()
    {
        using var pe = randn(1, 50, 8);
        using var same = Vim.ResamplePosEmbed(pe, 7);
        Assert.True(allclose(pe, same, 0, 0));
        using var bigger = Vim.ResamplePosEmbed(pe, 12);
        Assert.Equal([1L, 145, 8], bigger.shape);
        Assert.True(allclose(pe[.., 24, ..], bigger[.., 72, ..], 0, 0));   // 49//2 → 144//2
        // Bicubic resampling of a constant field is constant.
        using var flat = ones(1, 50, 8) * 3;
        flat[.., 24, ..] = full(1, 8, -1.0f);
        using var up = Vim.ResamplePosEmbed(flat, 10);
        using var patches = cat([up.narrow(1, 0, 50), up.narrow(1, 51, 50)], 1);   // class token at 100//2 = 50
        Assert.True(allclose(patches, full_like(patches, 3.0), 1e-5, 1e-5));
        Assert.Equal(-1f, up[0, 50, 0].item<float>());
    }

    [Fact]
    public void WeightsBuiltAtOneSizeRunAtAnother()
    {
        using var small = Create("vim_nano", new ModelOptions(NumClasses: 4, InChannels: 1));
        using var large = Create("vim_nano", new ModelOptions(NumClasses: 4, InChannels: 1, ImageSize: 56));
        var (missing, unexpected) = large.LoadStateDictResampled(small.state_dict());
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        using var expectedPe = Vim.ResamplePosEmbed(small.state_dict()["pos_embed"], 14);
        Assert.True(allclose(expectedPe, large.state_dict()["pos_embed"], 0, 0));
        Assert.True(allclose(small.state_dict()["layers.2.mixer.A_b_log"], large.state_dict()["layers.2.mixer.A_b_log"], 0, 0));
        using var y = large.call(randn(1, 1, 56, 56));
        Assert.Equal([1L, 4], y.shape);
    }

    [Fact]
    public void InitialisationFollowsTheSpec()
    {
        using var model = Create("vim_nano");
        var sd = model.state_dict();
        // docs/models/vim.md §6: out_proj re-drawn kaiming_uniform(a=√5) / √depth → |w| ≤ 1/√fan_in/√depth.
        double bound = 1 / Math.Sqrt(192) / Math.Sqrt(6);
        Assert.True(sd["layers.0.mixer.out_proj.weight"].abs().max().item<float>() <= bound + 1e-7);
        Assert.Equal(0f, sd["head.bias"].abs().max().item<float>());
        Assert.Equal(0f, sd["patch_embed.proj.bias"].abs().max().item<float>());
        Assert.InRange(sd["pos_embed"].std().item<float>(), 0.015, 0.025);
        // dt_proj.bias = softplus⁻¹(dt), dt ∈ [1e-3, 0.1]; dt_proj_b.bias zeroed by _init_weights (no _no_reinit tag).
        using var dt = nn.functional.softplus(sd["layers.1.mixer.dt_proj.bias"]);
        Assert.True(dt.min().item<float>() >= 1e-3f * 0.999f && dt.max().item<float>() <= 0.1f * 1.001f);
        Assert.Equal(0f, sd["layers.1.mixer.dt_proj_b.bias"].abs().max().item<float>());
        Assert.Equal(1f, sd["norm_f.weight"].min().item<float>());
        Assert.True(allclose(sd["layers.0.mixer.A_b_log"][.., 3], full(192, Math.Log(4), dtype: ScalarType.Float32)));
    }
}
