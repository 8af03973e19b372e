using VisionSsm.Analysis;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Analysis;

public class FlopCounterTests
{
    static FlopReport Count(nn.Module<Tensor, Tensor> m, long[] shape, FlopConvention c, KernelOptions kernels)
    {
        using (KernelOptions.Use(kernels)) return FlopCounter.Count(m, shape, c);
    }

    /// <summary>The counter observes modules; whichever kernels run (fused, Gemm, module paths), the count is the same.</summary>
    [Theory]
    [InlineData(FlopConvention.Fvcore)]
    [InlineData(FlopConvention.Thop)]
    public void TheCountDoesNotDependOnWhichKernelsRun(FlopConvention convention)
    {
        var modules = new (nn.Module<Tensor, Tensor> Module, long[] Shape)[]
        {
            (new Mamba(new MambaConfig(DModel: 16, DState: 4)), [2, 9, 16]),
            (new BiMamba(new MambaConfig(DModel: 16, DState: 4)), [1, 9, 16]),
            (new SS2D(new Ss2dConfig(16)), [1, 16, 5, 5]),
            (new GambaBlock(32, 6, cell: new GambaCellOptions(DState: 4), heads: 2), [2, 32, 6, 6]),
            (new BotMhsa2d(16, 5, heads: 2, registerTokens: 1), [1, 16, 5, 5]),
        };
        foreach (var (m, shape) in modules)
        {
            var fast = Count(m, shape, convention, KernelOptions.Default with { Choice = KernelChoice.Ours });   // forced: nothing timed in tests
            var slow = Count(m, shape, convention, KernelOptions.Reference);
            Assert.True(fast.Total > 0, m.GetType().Name);
            Assert.Equal(slow.Total, fast.Total);
            Assert.Equal(slow.ByCategory.OrderBy(p => p.Key), fast.ByCategory.OrderBy(p => p.Key));
            Assert.Equal(slow.VisibleParameters, fast.VisibleParameters);
            m.Dispose();
        }
    }

    /// <summary>Mamba by hand (mamba_simple, fvcore): in_proj B·L·2Di·Dm, conv B·Di·(L+3)·4, x_proj B·L·(R+2N)·Di,
    /// dt_proj B·L·Di·R, out_proj B·L·Dm·Di, scan 9·B·L·Di·N + 2·B·Di·L; thop sees conv1d, x_proj, out_proj only.</summary>
    [Fact]
    public void MambaIsCountedFromItsConfigAndShape()
    {
        using var m = new Mamba(new MambaConfig(DModel: 16, DState: 4));
        long b = 2, l = 9, dm = 16, di = 32, r = 1, n = 4;
        var fv = FlopCounter.Count(m, [b, l, dm], FlopConvention.Fvcore);
        Assert.Equal(b * l * 2 * di * dm + b * l * (r + 2 * n) * di + b * l * di * r + b * l * dm * di, fv.ByCategory["linear"]);
        Assert.Equal(b * di * (l + 3) * 4, fv.ByCategory["conv"]);
        Assert.Equal(9 * b * l * di * n + 2 * b * di * l, fv.ByCategory["scan"]);
        var thop = FlopCounter.Count(m, [b, l, dm], FlopConvention.Thop);
        Assert.Equal(b * di * (l + 3) * 4 + b * l * (r + 2 * n) * di + b * l * dm * di, thop.Total);
        Assert.Equal(di * 4 + di + (r + 2 * n) * di + dm * di, thop.VisibleParameters);   // conv1d (+bias), x_proj, out_proj
    }
}
