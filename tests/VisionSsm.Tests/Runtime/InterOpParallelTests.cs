using VisionSsm.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Runtime;

public class InterOpParallelTests
{
    [Fact]
    public void RunsBothBranchesOnOtherThreadsWithoutGradAndReturnsTheirResults()
    {
        int caller = Environment.CurrentManagedThreadId;
        int t1 = 0, t2 = 0;
        bool grad1 = true, grad2 = true;
        int kernelThreads = 0;
        using var x = arange(6, dtype: ScalarType.Float32);
        var (a, b) = InterOpParallel.Run(
            () => { t1 = Environment.CurrentManagedThreadId; grad1 = is_grad_enabled(); kernelThreads = TorchRuntime.KernelParallelism.MaxDegreeOfParallelism; return x * 2; },
            () => { t2 = Environment.CurrentManagedThreadId; grad2 = is_grad_enabled(); return x + 1; });
        using (a)
        using (b)
        {
            Assert.NotEqual(caller, t1);
            Assert.NotEqual(caller, t2);
            Assert.NotEqual(t1, t2);
            Assert.False(grad1);
            Assert.False(grad2);
            Assert.Equal(1, kernelThreads);   // our kernels stay on the worker's own thread
            Assert.Equal(new float[] { 0, 2, 4, 6, 8, 10 }, a.data<float>().ToArray());
            Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, b.data<float>().ToArray());
        }
    }

    [Fact]
    public void ExceptionInABranchIsRethrownAndTheWorkersStayUsable()
    {
        using var x = ones(3);
        var e = Assert.Throws<ArgumentException>(() => InterOpParallel.Run(() => x * 2, () => throw new ArgumentException("bad branch", "y")));
        Assert.Equal("y", e.ParamName);
        var (a, b) = InterOpParallel.Run(() => x * 2, () => x * 3);
        using (a) using (b) Assert.Equal(15f, (a + b).sum().item<float>());   // (2 + 3) × 3 ones
    }

    [Fact]
    public void NestedRunFallsBackToSerialInsteadOfDeadlocking()
    {
        using var x = ones(2);
        var (a, b) = InterOpParallel.Run(
            () => { var (p, q) = InterOpParallel.Run(() => x * 2, () => x * 3); return p + q; },
            () => x);
        using (a) using (b) Assert.Equal(new float[] { 5, 5 }, a.data<float>().ToArray());
    }
}
