using TorchSharp;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Models;

/// <summary>The <see cref="IVisionModel"/> contract, checked the same way for every zoo family (float64, odd-ish sizes).</summary>
public class VisionModelContractTests
{
    // One small variant per family, at a size that is not the variant's default and (for the hierarchical models)
    // not a multiple of the total reduction, so the ceil-division of odd sides is exercised.
    public static TheoryData<string, int> Families => new()
    {
        { "vmamba_nano", 30 },
        { "resnet_nano", 30 },
        { "vgamba_nano", 20 },   // built for one size; 20 keeps the side even before its pooled stage-3 block
        { "vim_nano", 20 },      // 5 × 5 patches: the class token sits at index 12
        { "deit_nano", 20 },
    };

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static VisionModel Create(string name, int size, int classes = 5) =>
        ModelZoo.Create(name, new ModelOptions(classes, InChannels: 1, ImageSize: size, Dtype: ScalarType.Float64));

    [Theory]
    [MemberData(nameof(Families))]
    public void ForwardIsForwardHeadOfForwardFeatures(string name, int size)
    {
        using var scope = NewDisposeScope();
        using var m = Create(name, size);
        m.eval();
        using var _ = no_grad();
        var x = randn([2, 1, size, size], dtype: ScalarType.Float64);
        var logits = m.call(x);
        Assert.Equal(ScalarType.Float64, logits.dtype);
        Assert.Equal([2L, 5], logits.shape);
        Assert.True(Same(logits, m.ForwardHead(m.ForwardFeatures(x))), name);
        var pooled = m.ForwardHead(m.ForwardFeatures(x), preLogits: true);
        Assert.Equal([2L, m.NumFeatures], pooled.shape);
        Assert.Equal(5, m.NumClasses);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void IntermediatesMatchFeatureInfo(string name, int size)
    {
        using var scope = NewDisposeScope();
        using var m = Create(name, size);
        m.eval();
        using var _ = no_grad();
        var x = randn([2, 1, size, size], dtype: ScalarType.Float64);
        var info = m.FeatureInfo;
        Assert.Equal(Enumerable.Range(0, info.Count), info.Select(i => i.Index));
        var all = m.ForwardIntermediates(x, info.Select(i => i.Index).ToList());
        Assert.Equal(info.Count, all.Count);
        for (int i = 0; i < info.Count; i++)
        {
            long side = (size + info[i].Reduction - 1) / info[i].Reduction;
            Assert.Equal([2L, info[i].Channels, side, side], all[i].shape);
        }
        Assert.Contains(m.named_modules(), nm => nm.name == info[^1].Module);
        // The defaults: every stage for hierarchical models, the last block for plain ones; in the order asked.
        var defaults = m.ForwardIntermediates(x);
        Assert.Equal(m.DefaultFeatureIndices.Count, defaults.Count);
        bool plain = name is "vim_nano" or "deit_nano";
        Assert.Equal(plain ? [info.Count - 1] : Enumerable.Range(0, info.Count).ToArray(), m.DefaultFeatureIndices.ToArray());
        var reversed = m.ForwardIntermediates(x, [info.Count - 1, 0]);
        Assert.True(Same(reversed[0], all[^1]));
        Assert.True(Same(reversed[1], all[0]));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void BadIndexNamesTheIndexAndTheRange(string name, int size)
    {
        using var m = Create(name, size);
        using var x = randn([1, 1, size, size], dtype: ScalarType.Float64);
        int n = m.FeatureInfo.Count;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => m.ForwardIntermediates(x, [0, n]));
        Assert.Contains($"feature index {n}", ex.Message);
        Assert.Contains($"0..{n - 1}", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ForwardIntermediates(x, [-1]));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ResetClassifierChangesTheOutputWidth(string name, int size)
    {
        using var scope = NewDisposeScope();
        using var m = Create(name, size);
        m.eval();
        using var _ = no_grad();
        var x = randn([2, 1, size, size], dtype: ScalarType.Float64);
        var keys = m.state_dict().Keys.ToList();
        m.ResetClassifier(3);
        Assert.Equal(3, m.NumClasses);
        var logits = m.call(x);
        Assert.Equal([2L, 3], logits.shape);
        Assert.Equal(ScalarType.Float64, logits.dtype);
        Assert.Equal(keys, m.state_dict().Keys.ToList());   // same key names, new shapes
        Assert.All(m.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));

        m.ResetClassifier(0);
        Assert.Equal(0, m.NumClasses);
        var features = m.call(x);
        Assert.Equal([2L, m.NumFeatures], features.shape);
        Assert.True(Same(features, m.ForwardHead(m.ForwardFeatures(x), preLogits: true)));
        Assert.True(m.state_dict().Count < keys.Count);   // no classifier weights left
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ResetClassifier(-1));
    }

    [Fact]
    public void VimIntermediatesDropTheMiddleClassToken()
    {
        using var scope = NewDisposeScope();
        using var m = (Vim)Create("vim_nano", 20);
        m.eval();
        using var _ = no_grad();
        Assert.Equal(12, m.Config.ClsIndex);
        // Tokens whose value is their index: the map must hold every index but 12, in raster order.
        var tokens = arange(26, dtype: ScalarType.Float64).reshape(1, 26, 1).expand(2, 26, 3);
        var map = m.TokensToMap(tokens);
        Assert.Equal([2L, 3, 5, 5], map.shape);
        var expected = tensor(Enumerable.Range(0, 25).Select(p => (double)(p < 12 ? p : p + 1)).ToArray());
        Assert.True(Same(map[0, 0].flatten(), expected));

        // The last intermediate is the residual stream before norm_f; normalising it gives ForwardFeatures' patch tokens,
        // so the right token was removed and the rest kept their places.
        var x = randn([2, 1, 20, 20], dtype: ScalarType.Float64);
        var stream = m.ForwardIntermediates(x)[0];                                   // (2, 96, 5, 5)
        var w = m.named_parameters().First(p => p.name == "norm_f.weight").parameter;
        var s = stream.permute(0, 2, 3, 1);
        var normed = s * rsqrt(s.square().mean([-1], keepdim: true) + m.Config.NormEps) * w;
        var viaTokens = m.TokensToMap(m.ForwardFeatures(x)).permute(0, 2, 3, 1);
        Assert.True(allclose(normed, viaTokens, 1e-10, 1e-10));
    }

    [Fact]
    public void DeitIntermediatesDropTheLeadingClassToken()
    {
        using var scope = NewDisposeScope();
        using var m = (Vit)Create("deit_nano", 20);
        m.eval();
        using var _ = no_grad();
        var x = randn([2, 1, 20, 20], dtype: ScalarType.Float64);
        var map = m.ForwardIntermediates(x)[0];
        var norm = m.named_modules().First(nm => nm.name == "norm").module as TorchSharp.Modules.LayerNorm;
        var tokens = m.ForwardFeatures(x);                                          // norm(last block output)
        var normed = norm!.call(map.flatten(2).transpose(1, 2));
        Assert.True(allclose(normed, tokens.narrow(1, 1, 25), 1e-10, 1e-10));
    }

    [Fact]
    public void EveryEntryHasALowercaseFamilyAndPreprocessing()
    {
        Assert.Equal(["resnet", "vgamba", "vim", "vit", "vmamba"], ModelZoo.Entries.Select(e => e.Family).Distinct().Order().ToArray());
        foreach (var e in ModelZoo.Entries)
        {
            var p = e.Preprocessing;
            Assert.Equal(e.DefaultImageSize, p.InputSize);
            Assert.Equal(p.Mean.Length, p.Std.Length);
            if (e.DefaultImageSize == 224)
            {
                Assert.Equal(Preprocessing.ImageNetMean, p.Mean);
                Assert.Equal(e.Family == "resnet" && e.Name != "bot50" ? ImageInterpolation.Bilinear : ImageInterpolation.Bicubic, p.Interpolation);
                Assert.Equal(0.875, p.CropPct);
            }
            else Assert.Equal(Preprocessing.FashionMnist(28), p);
        }
        // The small-image statistics are the training default's (Data's Fashion-MNIST normalisation).
        Assert.Equal(VisionSsm.Data.Transforms.Normalize.FashionMnistMean, Preprocessing.FashionMnistMean);
        Assert.Equal(VisionSsm.Data.Transforms.Normalize.FashionMnistStd, Preprocessing.FashionMnistStd);
        Assert.Equal(VisionSsm.Data.Transforms.Normalize.ImageNetMean, Preprocessing.ImageNetMean);
    }

    [Fact]
    public void EveryFamilyHasOneConstructorShape()
    {
        foreach (var (type, config) in new (Type, Type)[]
                 {
                     (typeof(VMamba), typeof(VMambaConfig)), (typeof(Vim), typeof(VimConfig)), (typeof(VGamba), typeof(VGambaConfig)),
                     (typeof(ResNet), typeof(ResNetConfig)), (typeof(Vit), typeof(VitConfig)),
                 })
        {
            var ctor = Assert.Single(type.GetConstructors());
            Assert.Equal([config, typeof(ModelOptions)], ctor.GetParameters().Select(p => p.ParameterType).ToArray());
        }
    }

    [Fact]
    public void BadOptionsAreRejectedNamingTheOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModelZoo.Create("resnet_nano", new ModelOptions(-1)));
        Assert.Equal("NumClasses", ex.ParamName);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModelZoo.Create("resnet_nano", new ModelOptions(Dtype: ScalarType.Int32)));
        Assert.Equal("Dtype", ex.ParamName);
    }

    [Fact]
    public void ZooPreprocessingMapsToTheEvalPipeline()
    {
        var imagenet = VisionSsm.Training.Preprocessing.FromZoo(ModelZoo.Get("resnet50").Preprocessing, 3);
        Assert.False(imagenet.SmallImage);
        Assert.Equal(0.875, imagenet.CropPct);
        Assert.Equal(VisionSsm.Data.Transforms.Interpolation.Bilinear, imagenet.ToTransformOptions().Interpolation);
        Assert.Equal(VisionSsm.Data.Transforms.Interpolation.Bicubic,
            VisionSsm.Training.Preprocessing.FromZoo(ModelZoo.Get("vim_tiny").Preprocessing, 3).ToTransformOptions().Interpolation);
        var small = VisionSsm.Training.Preprocessing.FromZoo(ModelZoo.Get("vmamba_nano").Preprocessing, 1);
        Assert.True(small.SmallImage);
        Assert.Equal(28, small.ImageSize);
        Assert.Equal(Preprocessing.FashionMnistMean, small.Mean);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void OptionsAreHonouredTheSameWay(string name, int size)
    {
        using var m = ModelZoo.Create(name, new ModelOptions(4, InChannels: 2, ImageSize: size, DropPathRate: 0.1));
        Assert.Equal(4, m.NumClasses);
        Assert.All(m.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var _ = no_grad();
        m.eval();
        using var y = m.call(randn(1, 2, size, size));
        Assert.Equal([1L, 4], y.shape);
        Assert.Throws<ArgumentException>(() => m.call(randn(1, 3, size, size)));   // the channels it was built for
    }
}
