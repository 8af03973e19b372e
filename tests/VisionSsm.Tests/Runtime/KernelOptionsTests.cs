using VisionSsm.Layers;
using VisionSsm.Runtime;
using VisionSsm.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Runtime;

public class KernelOptionsTests
{
    [Fact]
    public void DefaultsAllowEveryFastPath()
    {
        var d = KernelOptions.Default;
        Assert.True(d.Gemm && d.FusedMamba && d.MambaChannelMajorInProjection && d.OpenMp && d.InterOp && d.ScanVector512);
        Assert.Null(d.ScanRowKernel);
        Assert.Null(d.MhsaRowBlocks);
        Assert.Equal("default", d.ToString());
    }

    [Fact]
    public void ParseAppliesPairsToTheBaselineAndRoundTripsThroughToString()
    {
        var o = KernelOptions.Parse(" Gemm=off, interop=0,scanrowkernel=on, mhsarowblock=96");
        Assert.Equal(KernelOptions.Default with { Gemm = false, InterOp = false, ScanRowKernel = true, MhsaRowBlock = 96 }, o);
        Assert.Equal(o, KernelOptions.Parse(o.ToString()));
        Assert.Equal(KernelOptions.Reference, KernelOptions.Parse("reference"));
        Assert.Equal(KernelOptions.Reference with { Gemm = true }, KernelOptions.Parse("reference,gemm=on"));
        Assert.Null(KernelOptions.Parse("scanrowkernel=auto", KernelOptions.Reference).ScanRowKernel);
        Assert.Equal(KernelOptions.Default, KernelOptions.Parse(""));
    }

    [Theory]
    [InlineData("turbo=on")]
    [InlineData("gemm")]
    [InlineData("gemm=maybe")]
    [InlineData("gemm=auto")]          // two-way switch
    [InlineData("mhsarowblock=0")]
    [InlineData("mhsarowblock=on")]
    public void ParseRejectsUnknownNamesAndValues(string text) =>
        Assert.Throws<FormatException>(() => KernelOptions.Parse(text));

    [Fact]
    public void ScopesNestAndRestore()
    {
        var outer = KernelOptions.Current;
        using (KernelOptions.Use(outer with { Gemm = false }))
        {
            Assert.False(KernelOptions.Current.Gemm);
            using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false }))
            {
                Assert.False(KernelOptions.Current.Gemm);
                Assert.False(KernelOptions.Current.FusedMamba);
            }
            Assert.True(KernelOptions.Current.FusedMamba);
            using (KernelOptions.UseIfSet(null)) Assert.False(KernelOptions.Current.Gemm);
        }
        Assert.Equal(outer, KernelOptions.Current);
    }

    [Fact]
    public async Task AScopeIsSeenByItsOwnAsyncFlowOnly()
    {
        using var started = new SemaphoreSlim(0);
        using var release = new SemaphoreSlim(0);
        bool? otherSaw = null;
        var other = Task.Run(async () =>
        {
            started.Release();
            await release.WaitAsync();
            otherSaw = KernelOptions.Current.Gemm;
        });
        await started.WaitAsync();
        using (KernelOptions.Use(KernelOptions.Current with { Gemm = false }))
        {
            release.Release();
            await other;
            bool inner = await Task.Run(() => KernelOptions.Current.Gemm);   // flows into work this scope starts
            Assert.False(inner);
        }
        Assert.True(otherSaw);
    }

    [Fact]
    public void InterOpBranchesRunUnderTheCallersOptions()
    {
        using var scope = NewDisposeScope();
        using (KernelOptions.Use(KernelOptions.Current with { Gemm = false, ScanVector512 = false }))
        {
            var (a, b) = InterOpParallel.Run(
                () => tensor(KernelOptions.Current.Gemm ? 1 : 0),
                () => tensor(KernelOptions.Current.ScanVector512 ? 1 : 0));
            Assert.Equal(0, a.item<int>());
            Assert.Equal(0, b.item<int>());
        }
    }

    /// <summary>The module path calls conv1d as a module; the fused path runs its kernel instead.</summary>
    static int Conv1dCalls(Mamba m, Tensor x)
    {
        var conv = (TorchSharp.Modules.Conv1d)m.named_children().First(c => c.name == "conv1d").module;
        int calls = 0;
        var handle = conv.register_forward_hook((_, _, o) => { calls++; return o; });
        try { m.call(x).Dispose(); }
        finally { handle.remove(); }
        return calls;
    }

    [Fact]
    public void APerModuleValueOverridesTheAmbientOptions()
    {
        using var scope = NewDisposeScope();
        using var m = new Mamba(new MambaConfig(DModel: 16, DState: 4));
        using var noGrad = no_grad();
        var x = randn(1, 5, 16);
        Assert.Equal(0, Conv1dCalls(m, x));                                     // float32 inference: fused
        m.Kernels = KernelOptions.Default with { FusedMamba = false, Choice = KernelChoice.Ours };
        Assert.Equal(1, Conv1dCalls(m, x));
        using (KernelOptions.Use(KernelOptions.Reference)) { m.Kernels = KernelOptions.Default with { Choice = KernelChoice.Ours }; Assert.Equal(0, Conv1dCalls(m, x)); }
        m.Kernels = null;
        using (KernelOptions.Use(KernelOptions.Current with { FusedMamba = false })) Assert.Equal(1, Conv1dCalls(m, x));
        Assert.Equal(0, Conv1dCalls(m, x));
    }

    [Fact]
    public void TheCliRejectsABadKernelsValue()
    {
        var r = CliHarness.Run("models", "--kernels", "warp=on");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--kernels", r.Error);
        Assert.Contains("warp", r.Error);
    }
}
