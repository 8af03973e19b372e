using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

public class OwnedScalarAdamWTests
{
    const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;

    static Parameter[] MakeParameters(int seed)
    {
        var g = new Generator((ulong)seed);
        return [.. new long[][] { [1], [17], [5, 7], [8, 3, 3, 3] }.Select(s => new Parameter(randn(s, generator: g), requires_grad: true))];
    }

    static AdamW.ParamGroup[] Groups(Parameter[] ps, bool amsgrad = false, bool maximize = false) =>
    [
        new(ps[2..], new AdamW.Options { weight_decay = 0.05, amsgrad = amsgrad, maximize = maximize }),
        new(ps[..2], new AdamW.Options { weight_decay = 0.0, amsgrad = amsgrad, maximize = maximize }),
    ];

    static void Step(optim.Optimizer o, Parameter[] ps, int step, double lr)
    {
        var g = new Generator((ulong)(1000 + step));
        foreach (var group in o.ParamGroups) group.LearningRate = lr;
        foreach (var p in ps) p.grad = randn(p.shape, generator: g).mul_(step % 3 == 0 ? 1e-3 : 1.0);
        o.step();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Matches_TorchSharp_AdamW_parameters_and_state_over_steps_and_a_changing_learning_rate(bool amsgrad, bool maximize)
    {
        var a = MakeParameters(3);
        var b = MakeParameters(3);
        using var own = new OwnedScalarAdamW(Groups(a, amsgrad, maximize), 2e-3, Beta1, Beta2, Eps, 0.05);
        using var twin = optim.AdamW(Groups(b, amsgrad, maximize), 2e-3, Beta1, Beta2, Eps, 0.05);
        for (int step = 1; step <= 12; step++)
        {
            double lr = 2e-3 * (1 + Math.Cos(step * 0.3)) / 2;
            Step(own, a, step, lr);
            Step(twin, b, step, lr);
        }
        for (int i = 0; i < a.Length; i++) Assert.True(a[i].allclose(b[i], rtol: 1e-6, atol: 1e-7), $"parameter {i}");
        var sa = own.state_dict().State.Cast<AdamW.State>().ToArray();
        var sb = twin.state_dict().State.Cast<AdamW.State>().ToArray();
        Assert.Equal(sb.Length, sa.Length);
        for (int i = 0; i < sa.Length; i++)
        {
            Assert.Equal(sb[i].step, sa[i].step);
            Assert.True(sa[i].ApproximatelyEquals(sb[i]), $"state {i}");
        }
    }

    [Fact]
    public void Checkpoint_state_is_interchangeable_with_TorchSharp_AdamW()
    {
        var a = MakeParameters(5);
        var b = MakeParameters(5);
        using var own = new OwnedScalarAdamW(Groups(a), 1e-3, Beta1, Beta2, Eps, 0.05);
        using var twin = optim.AdamW(Groups(b), 1e-3, Beta1, Beta2, Eps, 0.05);
        for (int step = 1; step <= 3; step++) Step(twin, b, step, 1e-3);
        VisionSsm.Training.OptimizerState.Load(own, VisionSsm.Training.OptimizerState.Save(twin));
        using (no_grad()) for (int i = 0; i < a.Length; i++) a[i].copy_(b[i]);
        Step(own, a, 4, 1e-3);
        Step(twin, b, 4, 1e-3);
        for (int i = 0; i < a.Length; i++) Assert.True(a[i].allclose(b[i], rtol: 1e-6, atol: 1e-7), $"parameter {i}");

        // And back: the bytes name the portable type, so TorchSharp's AdamW resumes from them.
        var c = MakeParameters(5);
        using var back = optim.AdamW(Groups(c), 1e-3, Beta1, Beta2, Eps, 0.05);
        VisionSsm.Training.OptimizerState.Load(back, VisionSsm.Training.OptimizerState.Save(own));
        Assert.Equal(4L, back.state_dict().State.Cast<AdamW.State>().First().step);
    }
}
