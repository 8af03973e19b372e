using TorchSharp;
using VisionSsm.Layers;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Layers;

public class OwnedScalarBatchNorm2dTests
{
    [Fact]
    public void Has_TorchSharp_BatchNorm2d_state_dict_keys_shapes_dtypes_and_initial_values()
    {
        using var own = new OwnedScalarBatchNorm2d(6);
        using var twin = nn.BatchNorm2d(6);
        var a = own.state_dict();
        var b = twin.state_dict();
        Assert.Equal(b.Keys.OrderBy(k => k, StringComparer.Ordinal), a.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in b)
        {
            Assert.Equal(t.shape, a[k].shape);
            Assert.Equal(t.dtype, a[k].dtype);
            Assert.True(t.allclose(a[k], rtol: 0, atol: 0), k);
        }
        Assert.Equal(["weight", "bias"], own.named_parameters().Select(p => p.name).ToArray());
    }

    [Fact]
    public void Matches_TorchSharp_BatchNorm2d_over_training_steps_then_in_eval_with_gradients()
    {
        using var own = new OwnedScalarBatchNorm2d(5, eps: 1e-3, momentum: 0.2);
        using var twin = nn.BatchNorm2d(5, eps: 1e-3, momentum: 0.2);
        var g = new Generator(7);
        using (no_grad())
        {
            // Non-trivial affine parameters, identical in both.
            var w = randn([5], generator: g);
            var bias = randn([5], generator: g);
            own.get_parameter("weight")!.copy_(w);
            twin.weight!.copy_(w);
            own.get_parameter("bias")!.copy_(bias);
            twin.bias!.copy_(bias);
        }
        for (int step = 0; step < 4; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn([3, 5, 4, 6], generator: g).mul_(2.0).add_(0.5);
            var xa = x.clone().requires_grad_();
            var xb = x.clone().requires_grad_();
            var ya = own.call(xa);
            var yb = twin.call(xb);
            Assert.True(ya.allclose(yb, rtol: 1e-5, atol: 1e-6));
            var up = randn(ya.shape, generator: g);
            (ya * up).sum().backward();
            (yb * up).sum().backward();
            Assert.True(xa.grad!.allclose(xb.grad!, rtol: 1e-5, atol: 1e-6));
            Assert.True(own.get_parameter("weight")!.grad!.allclose(twin.weight!.grad!, rtol: 1e-5, atol: 1e-5));
            Assert.True(own.get_parameter("bias")!.grad!.allclose(twin.bias!.grad!, rtol: 1e-5, atol: 1e-5));
        }
        var a = own.state_dict();
        foreach (var (k, t) in twin.state_dict())
            Assert.True(t.allclose(a[k], rtol: 1e-6, atol: 1e-6), k);
        Assert.Equal(4L, a["num_batches_tracked"].item<long>());

        own.eval();
        twin.eval();
        using var scope2 = NewDisposeScope();
        var xe = randn([2, 5, 3, 3], generator: g);
        Assert.True(own.call(xe).allclose(twin.call(xe), rtol: 1e-5, atol: 1e-6));
        Assert.Equal(4L, own.state_dict()["num_batches_tracked"].item<long>());   // eval does not count
    }

    [Fact]
    public void Loads_a_TorchSharp_BatchNorm2d_state_dict()
    {
        using var twin = nn.BatchNorm2d(3);
        using (var scope = NewDisposeScope()) twin.call(randn(2, 3, 4, 4));
        using var own = new OwnedScalarBatchNorm2d(3);
        var (missing, unexpected) = own.load_state_dict(twin.state_dict());
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        Assert.Equal(1L, own.state_dict()["num_batches_tracked"].item<long>());
        Assert.True(twin.running_mean!.allclose(own.state_dict()["running_mean"], rtol: 0, atol: 0));
    }
}
