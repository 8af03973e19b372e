using TorchSharp;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Inference;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Segmentation.Inference;

public class SegmentationInferenceTests
{
    /// <summary>A 1×1 convolution: each output pixel depends only on the same input pixel (translation-equivariant, no borders).</summary>
    static Func<Tensor, Tensor> Pointwise(int inC, int classes, int seed)
    {
        var g = new Generator((ulong)seed);
        var w = randn([classes, inC, 1, 1], generator: g);
        var b = randn([classes], generator: g);
        return x => nn.functional.conv2d(x, w, b);
    }

    [Theory]
    [InlineData(10, 13, 6, 6, 4, 4)]
    [InlineData(17, 9, 8, 5, 3, 2)]
    [InlineData(5, 5, 8, 8, 8, 8)]     // window larger than the image: one window, shrunk to the image
    [InlineData(12, 12, 12, 12, 12, 12)]
    [InlineData(11, 20, 6, 7, 6, 5)]
    public void SlidingWindowEqualsWholeImageForAPointwiseModel(int h, int w, int cropH, int cropW, int strideH, int strideW)
    {
        using var scope = NewDisposeScope();
        var model = Pointwise(3, 5, 7);
        var x = randn([2, 3, h, w], generator: new Generator(11));
        var whole = SegmentationInference.Whole(model, x);
        var slide = SegmentationInference.Slide(model, x, cropH, cropW, strideH, strideW);
        Assert.Equal(new long[] { 2, 5, h, w }, slide.shape);
        Assert.True(slide.allclose(whole, rtol: 1e-5, atol: 1e-5), $"max diff {(slide - whole).abs().max().item<float>()}");
        // The identity model returns every window unchanged: dividing by the cover count gives the input back.
        Assert.True(SegmentationInference.Slide(t => t, x, cropH, cropW, strideH, strideW).allclose(x, rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void WindowsFollowMmsegsGrid()
    {
        // H = 10, crop 6, stride 4: ⌈(10 − 6)/4⌉ + 1 = 2 rows at y = 0, 4. W = 13: ⌈7/4⌉ + 1 = 3 columns at
        // x = 0, 4 and 8 → shifted back to 13 − 6 = 7.
        using var scope = NewDisposeScope();
        var rows = arange(10, ScalarType.Float32).reshape(1, 1, 10, 1).expand(1, 1, 10, 13);
        var cols = arange(13, ScalarType.Float32).reshape(1, 1, 1, 13).expand(1, 1, 10, 13);
        var x = cat([rows, cols], 1).contiguous();
        var seen = new List<(int, int, long, long)>();
        SegmentationInference.Slide(t =>
        {
            seen.Add(((int)t[0, 0, 0, 0].item<float>(), (int)t[0, 1, 0, 0].item<float>(), t.shape[2], t.shape[3]));
            return t;
        }, x, 6, 6, 4, 4);
        Assert.Equal([(0, 0, 6L, 6L), (0, 4, 6L, 6L), (0, 7, 6L, 6L), (4, 0, 6L, 6L), (4, 4, 6L, 6L), (4, 7, 6L, 6L)], seen);
    }

    [Fact]
    public void LowResolutionLogitsAreResizedToTheWindow()
    {
        using var scope = NewDisposeScope();
        var x = randn([1, 3, 16, 20], generator: new Generator(12));
        Func<Tensor, Tensor> quarter = t => nn.functional.avg_pool2d(t, 4);
        var slide = SegmentationInference.Slide(quarter, x, 8, 8, 6, 6);
        Assert.Equal(new long[] { 1, 3, 16, 20 }, slide.shape);
        // A constant image stays constant through pooling, resizing and averaging.
        var c = ones([1, 3, 16, 20]);
        Assert.True(SegmentationInference.Slide(quarter, c, 8, 8, 6, 6).allclose(c, rtol: 1e-6, atol: 1e-6));
        Assert.True(SegmentationInference.Whole(quarter, c).allclose(c, rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void FlipAugmentationAveragesSoftmaxOfTheMirroredBackView()
    {
        // The model ignores its input and returns logits (ramp 0.3·column, 0): class-0 probability σ(0.3 j). The mirrored
        // view, mirrored back, gives σ(0.3 (W − 1 − j)); the prediction is their mean.
        using var scope = NewDisposeScope();
        int h = 3, w = 7;
        Func<Tensor, Tensor> ramp = t =>
        {
            var r = arange(t.shape[3], ScalarType.Float32).Times(0.3).reshape(1, 1, 1, -1).expand(t.shape[0], 1, t.shape[2], t.shape[3]);
            return cat([r, zeros_like(r)], 1);
        };
        var scores = SegmentationInference.Predict(ramp, zeros([1, 3, h, w]), new InferenceOptions { Flip = true });
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        for (int j = 0; j < w; j++)
        {
            double expected = (Sigmoid(0.3 * j) + Sigmoid(0.3 * (w - 1 - j))) / 2;
            Assert.Equal(expected, scores[0, 0, 1, j].item<float>(), 5);
            Assert.Equal(1 - expected, scores[0, 1, 1, j].item<float>(), 5);
        }
    }

    [Fact]
    public void MultiScaleOfAConstantImageEqualsSingleScaleSoftmax()
    {
        using var scope = NewDisposeScope();
        var model = Pointwise(3, 4, 3);
        var x = full([2, 3, 9, 11], 0.7f);
        var single = SegmentationInference.Predict(model, x);
        Assert.True(single.allclose(SegmentationInference.Whole(model, x)));   // no augmentation: plain logits
        var tta = SegmentationInference.Predict(model, x, new InferenceOptions { Scales = InferenceOptions.MultiScaleRatios, Flip = true });
        Assert.Equal(new long[] { 2, 4, 9, 11 }, tta.shape);
        Assert.True(tta.allclose(single.softmax(1), rtol: 1e-5, atol: 1e-6));
        var slideTta = SegmentationInference.Predict(model, x, new InferenceOptions
        {
            Mode = InferenceMode.Slide, CropHeight = 5, CropWidth = 5, StrideHeight = 3, StrideWidth = 3, Scales = [0.5, 1.5],
        });
        Assert.True(slideTta.allclose(single.softmax(1), rtol: 1e-5, atol: 1e-6));
        Assert.Equal(SegmentationInference.Labels(single).shape, new long[] { 2, 9, 11 });
    }

    [Fact]
    public void BadInputsAreClear()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("(B, C, H, W)", Assert.Throws<ArgumentException>(() => SegmentationInference.Whole(t => t, zeros([3, 4, 4]))).Message);
        Assert.Contains("same B", Assert.Throws<InvalidOperationException>(() => SegmentationInference.Whole(t => t[0], zeros([2, 3, 4, 4]))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentationInference.Predict(t => t, zeros([1, 3, 4, 4]), new InferenceOptions { Scales = [] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentationInference.Slide(t => t, zeros([1, 3, 4, 4]), 0, 2, 1, 1));
    }
}
