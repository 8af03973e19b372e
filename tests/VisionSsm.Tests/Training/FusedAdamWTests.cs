using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

public class FusedAdamWTests
{
    const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;

    /// <summary>Parameters over a grid of shapes: single elements, vector tails shorter than a SIMD lane, 2-D, a
    /// channels-last conv weight and a long vector whose length leaves a tail of one element after 16-lane steps.</summary>
    static Parameter[] MakeParameters(ScalarType dtype, int seed, bool channelsLast = true)
    {
        var g = new Generator((ulong)seed);
        Parameter P(Tensor t) => new(t, requires_grad: true);
        return
        [
            P(randn([1], dtype: dtype, generator: g)),
            P(randn([17], dtype: dtype, generator: g)),
            P(randn([5, 7], dtype: dtype, generator: g)),
            P(channelsLast ? ChannelsLast.To(randn([8, 3, 3, 3], dtype: dtype, generator: g)) : randn([8, 3, 3, 3], dtype: dtype, generator: g)),
            P(randn([40_017], dtype: dtype, generator: g)),
        ];
    }

    static AdamW.ParamGroup[] Groups(Parameter[] ps) =>
    [
        new(ps[2..], new AdamW.Options { weight_decay = 0.05 }),     // matrices and the conv weight: decayed
        new(ps[..2], new AdamW.Options { weight_decay = 0.0 }),      // 1-D: no decay (docs/training.md §1)
    ];

    static void SetGrads(Parameter[] ps, int step, int seed)
    {
        var g = new Generator((ulong)(seed * 1000 + step));
        foreach (var p in ps)
        {
            var grad = randn(p.shape, dtype: p.dtype, generator: g).mul_(step % 3 == 0 ? 1e-3 : 1.0);
            if (ChannelsLast.Is(p)) grad = ChannelsLast.To(grad);     // autograd gives a grad laid out like its parameter
            p.grad = grad;
        }
    }

    static void SetLearningRate(optim.Optimizer o, double lr)
    {
        foreach (var group in o.ParamGroups) group.LearningRate = lr;
    }

    /// <summary>Steps <paramref name="first"/>..<paramref name="last"/> on both optimizers with the same seeded
    /// gradients and, when given, the same learning rate per step.</summary>
    static void StepBoth(FusedAdamW fused, AdamW twin, Parameter[] a, Parameter[] b, int first, int last, int seed, Func<int, double>? lr = null)
    {
        for (int step = first; step <= last; step++)
        {
            if (lr is not null)
            {
                SetLearningRate(fused, lr(step));
                SetLearningRate(twin, lr(step));
            }
            SetGrads(a, step, seed);
            SetGrads(b, step, seed);
            fused.step();
            twin.step();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Matches_TorchSharp_AdamW_over_steps_groups_and_a_changing_learning_rate(int threads)
    {
        using var scope = NewDisposeScope();
        var fusedParams = MakeParameters(ScalarType.Float32, 7);
        var twinParams = MakeParameters(ScalarType.Float32, 7);
        using var fused = new FusedAdamW(Groups(fusedParams), 2e-3, Beta1, Beta2, Eps, 0.05);
        using var twin = optim.AdamW(Groups(twinParams), 2e-3, Beta1, Beta2, Eps, 0.05);
        int before = VisionSsm.Runtime.TorchRuntime.Threads;
        VisionSsm.Runtime.TorchRuntime.SetThreads(threads);
        try
        {
            StepBoth(fused, twin, fusedParams, twinParams, 1, 6, 3, step => 2e-3 * (1 + Math.Cos(Math.PI * step / 6)) / 2 + 1e-5);
        }
        finally { VisionSsm.Runtime.TorchRuntime.SetThreads(before); }

        var fusedState = fused.state_dict().State.Cast<AdamW.State>().ToArray();
        var twinState = twin.state_dict().State.Cast<AdamW.State>().ToArray();
        for (int i = 0; i < fusedParams.Length; i++)
        {
            Assert.True(fusedParams[i].allclose(twinParams[i], rtol: 1e-5, atol: 1e-6), $"parameter {i} differs");
            Assert.Equal(twinState[i].step, fusedState[i].step);
            Assert.True(fusedState[i].exp_avg.allclose(twinState[i].exp_avg, rtol: 1e-5, atol: 1e-7), $"exp_avg {i} differs");
            Assert.True(fusedState[i].exp_avg_sq.allclose(twinState[i].exp_avg_sq, rtol: 1e-5, atol: 1e-9), $"exp_avg_sq {i} differs");
        }
        Assert.True(ChannelsLast.Is(fusedParams[3]));
    }

    [Fact]
    public void First_step_moves_each_weight_by_lr_against_the_sign_of_its_gradient()
    {
        // From zero moments the bias-corrected m̂ = g and v̂ = g², so p₁ = p₀·(1 − lr·wd) − lr·g / (|g| + ε).
        using var scope = NewDisposeScope();
        var p = new Parameter(tensor(new float[] { 1f, -2f, 0.5f, 3f }), requires_grad: true);
        using var opt = new FusedAdamW([new AdamW.ParamGroup([p], new AdamW.Options { weight_decay = 0.1 })], 0.01, Beta1, Beta2, Eps, 0.1);
        var g = new[] { 0.3f, -4f, 1e-3f, -2e-2f };
        p.grad = tensor(g);
        var p0 = new[] { 1f, -2f, 0.5f, 3f };
        opt.step();
        var got = p.data<float>().ToArray();
        for (int i = 0; i < 4; i++)
            Assert.Equal(p0[i] * (1 - 0.01 * 0.1) - 0.01 * g[i] / (Math.Abs(g[i]) + Eps), got[i], 5e-6);
    }

    [Fact]
    public void Float64_parameters_fall_back_to_TorchSharp_AdamW_exactly()
    {
        using var scope = NewDisposeScope();
        var a = MakeParameters(ScalarType.Float64, 11);
        var b = MakeParameters(ScalarType.Float64, 11);
        using var fused = new FusedAdamW(Groups(a), 1e-3, Beta1, Beta2, Eps, 0.05);
        using var twin = optim.AdamW(Groups(b), 1e-3, Beta1, Beta2, Eps, 0.05);
        StepBoth(fused, twin, a, b, 1, 3, 5);
        for (int i = 0; i < a.Length; i++) Assert.True(a[i].Equals(b[i]), $"parameter {i} differs");
    }

    [Fact]
    public void A_parameter_without_gradient_is_left_alone()
    {
        using var scope = NewDisposeScope();
        var ps = MakeParameters(ScalarType.Float32, 13);
        var copy = ps.Select(p => p.detach().clone()).ToArray();
        using var opt = new FusedAdamW(Groups(ps), 1e-3, Beta1, Beta2, Eps, 0.05);
        SetGrads(ps, 1, 2);
        ps[1].grad = null;
        opt.step();
        Assert.True(ps[1].Equals(copy[1]));
        Assert.False(ps[0].Equals(copy[0]));
        // States are listed group by group: ps[2], ps[3], ps[4], then ps[0], ps[1].
        Assert.Equal(0, opt.state_dict().State.Cast<AdamW.State>().ElementAt(4).step);
    }

    [Fact]
    public void State_saved_by_the_fused_optimizer_resumes_in_TorchSharp_AdamW_and_back()
    {
        using var scope = NewDisposeScope();
        // Contiguous parameters only: TorchSharp cannot save moments of channels-last parameters (Bytes() of a
        // non-contiguous tensor), whichever optimizer made them.
        var a = MakeParameters(ScalarType.Float32, 17, channelsLast: false);
        var b = MakeParameters(ScalarType.Float32, 17, channelsLast: false);
        using var fused = new FusedAdamW(Groups(a), 1e-3, Beta1, Beta2, Eps, 0.05);
        using var twin = optim.AdamW(Groups(b), 1e-3, Beta1, Beta2, Eps, 0.05);
        StepBoth(fused, twin, a, b, 1, 3, 9);
        // Swap the optimizers' states through the checkpoint format, then take one more step each.
        var fromFused = VisionSsm.Training.OptimizerState.Save(fused);
        VisionSsm.Training.OptimizerState.Load(fused, VisionSsm.Training.OptimizerState.Save(twin));
        VisionSsm.Training.OptimizerState.Load(twin, fromFused);
        StepBoth(fused, twin, a, b, 4, 4, 9);
        for (int i = 0; i < a.Length; i++) Assert.True(a[i].allclose(b[i], rtol: 1e-5, atol: 1e-6), $"parameter {i} differs");
        Assert.All(fused.state_dict().State.Cast<AdamW.State>(), s => Assert.Equal(4, s.step));
    }

    [Fact]
    public void State_of_another_optimizer_type_is_refused_naming_both()
    {
        using var scope = NewDisposeScope();
        var a = MakeParameters(ScalarType.Float32, 19, channelsLast: false);
        using var sgd = optim.SGD(a, 0.1);
        using var fused = new FusedAdamW(Groups(a), 1e-3, Beta1, Beta2, Eps, 0.05);
        var ex = Assert.Throws<InvalidDataException>(() => VisionSsm.Training.OptimizerState.Load(fused, VisionSsm.Training.OptimizerState.Save(sgd)));
        Assert.Contains("SGD", ex.Message);
        Assert.Contains("AdamW", ex.Message);
    }

    [Theory]
    [InlineData(new long[] { 4, 5 }, new long[] { 5, 1 }, true)]             // contiguous
    [InlineData(new long[] { 8, 3, 3, 3 }, new long[] { 27, 1, 9, 3 }, true)] // channels-last
    [InlineData(new long[] { 4, 5 }, new long[] { 1, 4 }, true)]             // transposed, still dense
    [InlineData(new long[] { 4, 1, 5 }, new long[] { 5, 99, 1 }, true)]      // a size-1 dimension's stride is irrelevant
    [InlineData(new long[] { 4, 5 }, new long[] { 10, 2 }, false)]           // every other column of a wider tensor
    [InlineData(new long[] { 4, 5 }, new long[] { 0, 1 }, false)]            // expanded rows share memory
    public void Dense_layouts_are_recognised(long[] shape, long[] strides, bool dense) =>
        Assert.Equal(dense, FusedAdamW.IsDense(shape, strides));
}
