using TorchSharp;
using VisionSsm.Analysis;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Tests.Analysis;

/// <summary>
/// A one-level model: the feature map is the input itself (C channels on the H×W grid, through the level tap), and the
/// head is a global average pool and a linear layer, so d logit_k / d A[c, y, x] = W[k, c] / (H·W) — a spatially
/// constant gradient. A unit scale parameter puts the map on the autograd graph, as a real backbone's weights do.
/// </summary>
sealed class GapLinearModel : VisionModel
{
    readonly TorchSharp.Modules.Linear head;
    readonly TorchSharp.Modules.Parameter scale;
    readonly int channels;

    public GapLinearModel(Tensor weight) : base(nameof(GapLinearModel))
    {
        channels = (int)weight.shape[1];
        head = Linear(channels, weight.shape[0], hasBias: false, dtype: weight.dtype);
        using (no_grad()) head.weight!.copy_(weight);
        scale = new TorchSharp.Modules.Parameter(ones(1, dtype: weight.dtype));
        NumClasses = (int)weight.shape[0];
        RegisterComponents();
    }

    public override Tensor ForwardFeatures(Tensor x) => Tap(0, x * scale);
    public override Tensor ForwardHead(Tensor features, bool preLogits = false)
    {
        var pooled = features.mean([2L, 3L]);
        return preLogits ? pooled : head.call(pooled);
    }
    public override void ResetClassifier(int numClasses) => throw new NotSupportedException();
    public override int NumFeatures => channels;
    public override IReadOnlyList<FeatureInfo> FeatureInfo => [new FeatureInfo(0, channels, 1, "identity")];
    public override IReadOnlyList<int> DefaultFeatureIndices => [0];
    protected override IReadOnlyList<Tensor> Intermediates(Tensor x, int count) => [ForwardFeatures(x)];
}

public class ClassActivationMapTests
{
    /// <summary>Hand-computed: A = [[1, 2]], [[3, −1]]; G = [[1, 3]], [[0, −2]] (C = 2, 1×2 grid).</summary>
    [Fact]
    public void CombineByHand()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new double[] { 1, 2, 3, -1 }, [1, 2, 1, 2]);
        var g = tensor(new double[] { 1, 3, 0, -2 }, [1, 2, 1, 2]);
        // Grad-CAM: channel weights (mean of G) 2 and −1 → relu(2·[1, 2] − [3, −1]) = relu([−1, 5]) = [0, 5].
        Assert.Equal([0.0, 5.0], ClassActivationMap.Combine(a, g, CamMethod.GradCam).flatten().data<double>().ToArray());
        // HiResCAM: relu([1·1 + 0·3, 3·2 + (−2)(−1)]) = [1, 8].
        Assert.Equal([1.0, 8.0], ClassActivationMap.Combine(a, g, CamMethod.HiResCam).flatten().data<double>().ToArray());
    }

    [Fact]
    public void HiResCamIsGradCamWhenTheGradientIsSpatiallyConstant()
    {
        using var scope = NewDisposeScope();
        var a = randn([1, 6, 5, 7], dtype: ScalarType.Float64);
        var g = randn([1, 6, 1, 1], dtype: ScalarType.Float64).expand(1, 6, 5, 7).contiguous();
        var grad = ClassActivationMap.Combine(a, g, CamMethod.GradCam);
        var hires = ClassActivationMap.Combine(a, g, CamMethod.HiResCam);
        Assert.True(grad.allclose(hires, rtol: 1e-12, atol: 1e-12));
        Assert.True(grad.max().item<double>() > 0);
    }

    /// <summary>
    /// Two classes reading two channels: class 0's evidence (channel 0) is a bright 2×2 block at the top left, class 1's
    /// (channel 1) at the bottom right. Each class's map peaks on its own block; with a GAP + linear head both methods agree.
    /// </summary>
    [Fact]
    public void TheMapPeaksWhereTheClassEvidenceIs()
    {
        using var scope = NewDisposeScope();
        var w = tensor(new double[] { 1, 0, 0, 1 }, [2, 2]);
        using var model = new GapLinearModel(w);
        var x = zeros([1, 2, 8, 8], dtype: ScalarType.Float64);
        x[0, 0, TensorIndex.Slice(1, 3), TensorIndex.Slice(1, 3)] = ones(2, 2, dtype: ScalarType.Float64);
        x[0, 1, TensorIndex.Slice(5, 7), TensorIndex.Slice(5, 7)] = ones(2, 2, dtype: ScalarType.Float64).Times2();
        foreach (var (cls, y0, x0) in new[] { (0, 1, 1), (1, 5, 5) })
        {
            var grad = ClassActivationMap.Compute(model, x, CamMethod.GradCam, cls);
            var hires = ClassActivationMap.Compute(model, x, CamMethod.HiResCam, cls);
            Assert.Equal(grad.Map, hires.Map);
            Assert.Equal((8, 8, cls, 0), (grad.Height, grad.Width, grad.ClassIndex, grad.Level));
            // Raw map = W[k, k]/64 · A_k: 1/64 (class 0) or 2/64 (class 1) on the block, 0 elsewhere.
            for (int y = 0; y < 8; y++)
                for (int xx = 0; xx < 8; xx++)
                {
                    bool on = y >= y0 && y < y0 + 2 && xx >= x0 && xx < x0 + 2;
                    Assert.Equal(on ? (cls + 1) / 64.0 : 0.0, grad.Map[y * 8 + xx], 12);
                }
        }
        // Default class: the prediction (class 1 has the larger pooled evidence, 8/64 against 4/64).
        Assert.Equal(1, ClassActivationMap.Compute(model, x).ClassIndex);
    }

    [Fact]
    public void UpsampledMapIsNormalisedToTheInputSize()
    {
        using var scope = NewDisposeScope();
        using var model = new GapLinearModel(tensor(new double[] { 1 }, [1, 1]));
        var x = rand([1, 1, 6, 6], dtype: ScalarType.Float64);
        var cam = ClassActivationMap.Compute(model, x);
        Assert.Equal(36, cam.Upsampled.Length);
        // Min–max with pytorch-grad-cam's 1e-7 in the denominator: the maximum is 1 up to that epsilon.
        Assert.Equal(1.0, cam.Upsampled.Max(), 4);
        Assert.Equal(0.0, cam.Upsampled.Min(), 12);
    }

    [Fact]
    public void RejectsAnUnknownLevelOrClass()
    {
        using var scope = NewDisposeScope();
        using var model = new GapLinearModel(tensor(new double[] { 1 }, [1, 1]));
        var x = rand([1, 1, 4, 4], dtype: ScalarType.Float64);
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassActivationMap.Compute(model, x, level: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassActivationMap.Compute(model, x, classIndex: 3));
    }
}

static class TimesExtensions
{
    public static Tensor Times2(this Tensor t) => VisionSsm.Runtime.Scalars.Times(t, 2);
}
