using VisionSsm.Layers;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

public class VMambaTests
{
    [Theory]
    [InlineData("vmamba_tiny_s1l8", 30_249_064L)]
    [InlineData("vmamba_tiny_s2l5", 30_705_832L)]
    [InlineData("vmamba_small_s2l15", 50_147_752L)]
    [InlineData("vmamba_base_s2l15", 88_557_800L)]
    [InlineData("vmamba_tiny_v0", 22_893_448L)]
    public void Parameter_counts_equal_the_official_models(string name, long expected)
    {
        using var model = ModelZoo.Create(name);
        Assert.Equal(expected, model.parameters().Sum(p => p.numel()));
        Assert.Equal(expected, VMambaFamily.Configs[name].ParameterCount());   // closed form of docs/models/vmamba.md §1 / docs/models/vmamba.md §10
    }

    [Fact]
    public void Tiny_s1l8_state_dict_has_the_official_keys_and_shapes()
    {
        // Expected list written from docs/models/vmamba.md §9 (dims 96·2^i, depths 2-2-8-2, ratio 1, N 1, R = ceil(C/16)).
        var expected = new Dictionary<string, long[]>
        {
            ["patch_embed.0.weight"] = [48, 3, 3, 3], ["patch_embed.0.bias"] = [48],
            ["patch_embed.2.weight"] = [48], ["patch_embed.2.bias"] = [48],
            ["patch_embed.5.weight"] = [96, 48, 3, 3], ["patch_embed.5.bias"] = [96],
            ["patch_embed.7.weight"] = [96], ["patch_embed.7.bias"] = [96],
            ["classifier.norm.weight"] = [768], ["classifier.norm.bias"] = [768],
            ["classifier.head.weight"] = [1000, 768], ["classifier.head.bias"] = [1000],
        };
        int[] depths = [2, 2, 8, 2];
        for (int i = 0; i < 4; i++)
        {
            long c = 96L << i, di = c, r = (c + 15) / 16;
            for (int j = 0; j < depths[i]; j++)
            {
                string p = $"layers.{i}.blocks.{j}.";
                expected[p + "norm.weight"] = [c]; expected[p + "norm.bias"] = [c];
                expected[p + "op.in_proj.weight"] = [di, c];
                expected[p + "op.conv2d.weight"] = [di, 1, 3, 3];
                expected[p + "op.x_proj_weight"] = [4, r + 2, di];
                expected[p + "op.dt_projs_weight"] = [4, di, r];
                expected[p + "op.dt_projs_bias"] = [4, di];
                expected[p + "op.A_logs"] = [4 * di, 1];
                expected[p + "op.Ds"] = [4 * di];
                expected[p + "op.out_norm.weight"] = [di]; expected[p + "op.out_norm.bias"] = [di];
                expected[p + "op.out_proj.weight"] = [c, di];
                expected[p + "norm2.weight"] = [c]; expected[p + "norm2.bias"] = [c];
                expected[p + "mlp.fc1.weight"] = [4 * c, c]; expected[p + "mlp.fc1.bias"] = [4 * c];
                expected[p + "mlp.fc2.weight"] = [c, 4 * c]; expected[p + "mlp.fc2.bias"] = [c];
            }
            if (i < 3)
            {
                expected[$"layers.{i}.downsample.1.weight"] = [2 * c, c, 3, 3]; expected[$"layers.{i}.downsample.1.bias"] = [2 * c];
                expected[$"layers.{i}.downsample.3.weight"] = [2 * c]; expected[$"layers.{i}.downsample.3.bias"] = [2 * c];
            }
        }
        Assert.Equal(276, expected.Count);
        using var model = ModelZoo.Create("vmamba_tiny_s1l8");
        var actual = model.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected) Assert.True(shape.SequenceEqual(actual[key].shape), key);
    }

    [Fact]
    public void V0_uses_patch_merging_and_z_keys()
    {
        using var model = ModelZoo.Create("vmamba_tiny_v0");
        var sd = model.state_dict();
        Assert.Equal([384L, 96], sd["layers.0.blocks.0.op.in_proj.weight"].shape);     // C → 2Di with z
        Assert.Equal([768L, 16], sd["layers.0.blocks.0.op.A_logs"].shape);            // d_state 16
        Assert.True(sd.ContainsKey("layers.0.blocks.0.op.conv2d.bias"));
        Assert.Equal([192L, 384], sd["layers.0.downsample.reduction.weight"].shape);   // Linear(4C → 2C)
        Assert.Equal([384L], sd["layers.0.downsample.norm.weight"].shape);
        Assert.Equal([96L, 3, 4, 4], sd["patch_embed.0.weight"].shape);
        Assert.DoesNotContain(sd.Keys, k => k.Contains("mlp") || k.Contains("norm2"));
    }

    [Fact]
    public void Initialisation_follows_the_spec()
    {
        using var model = ModelZoo.Create("vmamba_tiny_s2l5");
        var sd = model.state_dict();
        var aLogs = sd["layers.1.blocks.0.op.A_logs"];
        Assert.Equal(0.0, aLogs.abs().max().item<float>());                        // N = 1: log(1) = 0
        Assert.Equal(1.0, sd["layers.1.blocks.0.op.Ds"].min().item<float>());
        var fc1 = sd["layers.0.blocks.0.mlp.fc1.weight"];
        Assert.True(fc1.std().item<float>() is > 0.017f and < 0.021f, $"std {fc1.std().item<float>()}");                     // trunc_normal std 0.02 (cut at ±2)
        Assert.True(fc1.abs().max().item<float>() <= 2.0f);
        var xproj = sd["layers.0.blocks.0.op.x_proj_weight"];                        // U(±1/√Di), Di = 192
        Assert.True(xproj.abs().max().item<float>() <= 1 / Math.Sqrt(192) + 1e-6);
        var bias = nn.functional.softplus(sd["layers.0.blocks.0.op.dt_projs_bias"]);
        Assert.True(bias.min().item<float>() >= 1e-3 - 1e-6 && bias.max().item<float>() <= 0.1 + 1e-6);
        Assert.Equal(0.0, sd["classifier.head.bias"].abs().max().item<float>());
    }

    [Theory]
    [InlineData("vmamba_nano", 32, 14)]
    [InlineData("vmamba_micro", 48, 14)]
    [InlineData("vmamba_nano_s1", 32, 28)]
    [InlineData("vmamba_nano_s4", 32, 7)]
    public void Small_image_variants_run_on_grayscale_28_pixel_images_and_stages_halve(string name, long c0, long first)
    {
        using var scope = NewDisposeScope();
        var model = (VMamba)ModelZoo.Create(name, new ModelOptions(NumClasses: 10, InChannels: 1, ImageSize: 28));
        model.eval();
        using var _ = no_grad();
        var x = randn(2, 1, 28, 28);
        Assert.Equal([2L, 10], model.call(x).shape);
        var f = model.ForwardIntermediates(x);
        // Stride-2 stem: 28 → 14; stride-1 stem keeps 28; the stride-4 stem (two stride-2 convs) gives 7. Each downsample is conv 3×3, stride 2, padding 1.
        var expected = new List<long> { first };
        while (expected.Count < 4) expected.Add((expected[^1] - 1) / 2 + 1);
        Assert.Equal(expected.ToArray(), f.Select(t => t.shape[2]).ToArray());
        Assert.Equal(new[] { c0, 2 * c0, 4 * c0, 8 * c0 }, f.Select(t => t.shape[1]).ToArray());
        Assert.Equal(VMambaFamily.Configs[name].ParameterCount(10, 1), model.parameters().Sum(p => p.numel()));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(65, 47)]
    [InlineData(33, 33)]
    public void Any_input_size_follows_the_convolution_arithmetic(int h, int w)
    {
        using var scope = NewDisposeScope();
        var model = new VMamba(new VMambaConfig([16, 32, 64, 128], [1, 1, 1, 1]), new ModelOptions(NumClasses: 7));
        model.eval();
        using var _ = no_grad();
        var x = randn(1, 3, h, w);
        static long Down(long s) => (s - 1) / 2 + 1;   // conv 3×3, stride 2, padding 1
        long sh = Down(Down(h)), sw = Down(Down(w));
        var f = model.ForwardIntermediates(x);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal([1L, 16L << i, sh, sw], f[i].shape);
            sh = Down(sh);
            sw = Down(sw);
        }
        Assert.Equal([1L, 7], model.call(x).shape);
    }

    [Fact]
    public void Wrong_channel_count_is_rejected()
    {
        using var model = ModelZoo.Create("vmamba_nano", new ModelOptions(NumClasses: 10, InChannels: 1));
        var ex = Assert.Throws<ArgumentException>(() => model.call(randn(1, 3, 28, 28)));
        Assert.Contains("(B, 1, H, W)", ex.Message);
    }

    [Fact]
    public void Every_variant_is_registered()
    {
        foreach (var name in new[] { "vmamba_tiny_s1l8", "vmamba_tiny_s2l5", "vmamba_small_s2l15", "vmamba_base_s2l15", "vmamba_tiny_v0", "vmamba_nano", "vmamba_micro", "vmamba_nano_s1", "vmamba_nano_s4" })
            Assert.Contains(name, ModelZoo.Names);
    }
}
