using VisionSsm.Analysis;
using VisionSsm.Models;
using Xunit;

namespace VisionSsm.Tests.Models;

public class VMambaFlopTests
{
    // README figures (docs/models/vmamba.md §1, §8): fvcore MACs + the scan formula, 224², batch 1.
    [Theory]
    [InlineData("vmamba_tiny_s1l8", 4.906)]
    [InlineData("vmamba_tiny_s2l5", 4.858)]
    [InlineData("vmamba_small_s2l15", 8.716)]
    [InlineData("vmamba_base_s2l15", 15.359)]
    [InlineData("vmamba_tiny_v0", 5.627)]
    public void Fvcore_flops_reproduce_the_readme(string name, double expectedG)
    {
        using var model = ModelZoo.Create(name);
        var report = FlopCounter.Count(model, [1, 3, 224, 224], FlopConvention.Fvcore);
        Assert.Equal(expectedG, Math.Round(report.GFlops, 3));
    }

    [Fact]
    public void Tiny_s1l8_breakdown_matches_the_spec()
    {
        // docs/models/vmamba.md §1: conv 4.812G (1×1 Linear2d counted as conv), LayerNorm 0.030G, scan 0.063G, head 0.001G.
        using var model = ModelZoo.Create("vmamba_tiny_s1l8");
        var r = FlopCounter.Count(model, [1, 3, 224, 224], FlopConvention.Fvcore).ByCategory;
        Assert.Equal(4.812, Math.Round(r["conv"] / 1e9, 3));
        Assert.Equal(0.030, Math.Round(r["norm"] / 1e9, 3));
        Assert.Equal(0.063, Math.Round(r["scan"] / 1e9, 3));
        Assert.Equal(0.001, Math.Round((r["linear"] + r["pool"]) / 1e9, 3));
    }
}
