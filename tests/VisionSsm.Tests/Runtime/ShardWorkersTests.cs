using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Runtime;

public class ShardWorkersTests
{
    [Fact]
    public void RunsEachJobOnItsOwnThreadWithGradientsWhenAskedAndReturnsResultsInOrder()
    {
        using var scope = NewDisposeScope();
        int caller = Environment.CurrentManagedThreadId;
        var threads = new int[3];
        var grad = new bool[3];
        var w = tensor(new double[] { 1, 2 }).requires_grad_(true);
        var r = ShardWorkers.Run(3, i =>
        {
            threads[i] = Environment.CurrentManagedThreadId;
            grad[i] = is_grad_enabled();
            var loss = (w * w).sum().Times(i + 1);             // d/dw = 2(i+1)·w
            return [autograd.grad([loss], [w])[0]];
        }, gradients: true);
        Assert.DoesNotContain(caller, threads);
        Assert.Equal(3, threads.Distinct().Count());
        Assert.All(grad, Assert.True);
        for (int i = 0; i < 3; i++) Assert.Equal(new[] { 2.0 * (i + 1), 4.0 * (i + 1) }, r[i][0].data<double>().ToArray());
        ShardWorkers.Run(2, _ => { Assert.False(is_grad_enabled()); return []; }, gradients: false);
    }

    [Fact]
    public void AnExceptionInAJobIsRethrownAndTheWorkersStayUsable()
    {
        var e = Assert.Throws<ArgumentException>(() => ShardWorkers.Run(2, i => i == 1 ? throw new ArgumentException("bad shard", "x") : [ones(2)], gradients: false));
        Assert.Equal("x", e.ParamName);
        using var scope = NewDisposeScope();
        Assert.Equal(2, ShardWorkers.Run(2, i => [full(1, (double)i)], gradients: false).Length);
    }

    [Fact]
    public void DropPathDrawsFromTheThreadsCurrentGenerator()
    {
        using var scope = NewDisposeScope();
        using var layer = new DropPath(0.5);
        layer.train();
        var x = ones(64, 3, dtype: ScalarType.Float64);
        Tensor Draw(ulong seed)
        {
            using var g = new Generator(seed);
            using var _ = RandomStream.Use(g);
            random.manual_seed(99);   // the global generator must not matter
            return layer.forward(x);
        }
        Assert.True(Draw(7).eq(Draw(7)).all().item<bool>());
        Assert.False(Draw(7).eq(Draw(8)).all().item<bool>());
        Assert.Null(RandomStream.Current);
    }
}
