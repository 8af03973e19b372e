using VisionSsm.Detection.Models;
using VisionSsm.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

/// <summary>
/// A few training steps from a seeded initialisation. The initial weights come from libtorch's process-wide generator,
/// which tests on other xunit workers draw from concurrently, so this runs in the serial collection: manual_seed then
/// fixes the start.
/// </summary>
[Collection(Cli.SerialTrainingCollection.Name)]
public class MaskRcnnTrainingTests(ITestOutputHelper output)
{
    [Fact]
    public void Loss_is_finite_and_decreases_over_a_few_SGD_steps()
    {
        manual_seed(0);
        using var model = new MaskRcnn(MaskRcnnTests.Tiny(), new ModelOptions(NumClasses: 2, Dtype: ScalarType.Float64));
        var (img, meta, target) = MaskRcnnTests.Scene();
        model.train();
        using var opt = optim.SGD(model.parameters(), 0.01);
        var totals = new List<double>();
        using var gen = new Generator(10);
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            gen.manual_seed(10);   // the same anchor/RoI draws every step: only the weights change
            model.UseSamplingGenerator(gen);
            var losses = model.Losses(img, [meta], [target]);
            Assert.Equal(["loss_bbox", "loss_cls", "loss_mask", "loss_rpn_bbox", "loss_rpn_cls"], losses.Keys.Order().ToArray());
            var total = losses.Values.Aggregate((a, b) => a + b);
            double v = total.item<double>();
            Assert.True(double.IsFinite(v), $"step {step}: loss {v}");
            output.WriteLine($"step {step}: {v:F4} " + string.Join(" ", losses.Select(kv => $"{kv.Key}={kv.Value.item<double>():F4}")));
            totals.Add(v);
            total.backward();
            opt.step();
        }
        Assert.True(totals[^1] < 0.8 * totals[0], $"loss went {totals[0]:F4} → {totals[^1]:F4}");
    }
}
