using VisionSsm.Runtime;
using System.Runtime.Intrinsics.X86;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary>
/// The N = 1 row kernel (in-vector prefix scans, used for float32 N = 1 on AVX-512) against the float64 reference
/// and against its slow twin, the lane kernel, over a grid of shapes: lengths around the 32-step block (partial
/// last blocks of 1, 16, 17, 5, 8 steps and none), grouped/ungrouped B and C, every option, batch 1 and 3.
/// </summary>
public class ScanRowKernelTests
{
    static readonly int[] Ls = [1, 16, 17, 33, 64, 197, 1000];

    public static TheoryData<int> Grid()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < 32; i++) data.Add(i);
        return data;
    }

    /// <summary>All 32 combinations of {grouped, z, D, deltaBias, softplus}; L and batch cycle; D 5 (G 5) or 12 (G 4).</summary>
    static ScanCase GridCase(int i) =>
        new(1 + 2 * ((i / 7) % 2), i % 2 == 0 ? 5 : 12, Ls[i % 7], 1, (i & 1) != 0 ? 4 : ((i & 16) != 0 ? 5 : 0),
            WithD: (i & 4) != 0, WithZ: (i & 2) != 0, WithBias: (i & 8) != 0, Softplus: (i & 16) != 0);

    [Fact]
    public void GridCoversEveryLengthAndOption()
    {
        var cases = Enumerable.Range(0, 32).Select(GridCase).ToList();
        Assert.True(Ls.All(l => cases.Any(c => c.Length == l)));
        Assert.Contains(cases, c => c.Batch == 3);
        Assert.Contains(cases, c => c.Groups == 0);
        Assert.Equal(32, cases.Select(c => (c.Groups == 4, c.WithZ, c.WithD, c.WithBias, c.Softplus)).Distinct().Count());
    }

    [Fact]
    public void AppliesToFloat32SingleStateOnly()
    {
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(1, 4, 8, 1, 0, false, false, false, false), 1);
        var f32 = x.Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Assert.Equal(Avx512F.IsSupported, ScanRowKernel.Applies(Args(f32, false)));
        Assert.False(ScanRowKernel.Applies(Args(x, false)));                       // float64 → lane kernel
        var n2 = ScanInputs.Make(new ScanCase(1, 4, 8, 2, 0, false, false, false, false), 1)
            .Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Assert.False(ScanRowKernel.Applies(Args(n2, false)));
    }

    [SkippableFact]
    public void DispatchSendsShortRowsToTheLaneKernel()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        Tensor?[] Make(int length) => ScanInputs.Make(new ScanCase(1, 4, length, 1, 0, false, false, false, false), 1)
            .Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Assert.False(ScanRowKernel.Preferred(Args(Make((int)ScanRowKernel.MinLength - 1), false)));
        Assert.True(ScanRowKernel.Preferred(Args(Make((int)ScanRowKernel.MinLength), false)));
        using (KernelOptions.Use(KernelOptions.Current with { ScanRowKernel = true })) Assert.True(ScanRowKernel.Preferred(Args(Make(4), false)));
        using (KernelOptions.Use(KernelOptions.Current with { ScanRowKernel = false })) Assert.False(ScanRowKernel.Preferred(Args(Make((int)ScanRowKernel.MinLength), false)));
    }

    /// <summary>y, last state and every gradient: row kernel (float32) vs the float64 reference and vs the lane kernel.</summary>
    [SkippableTheory]
    [MemberData(nameof(Grid))]
    public void RowKernelMatchesReferenceAndLaneKernel(int index)
    {
        Hardware.RequireAvx512();
        var c = GridCase(index);
        using var scope = NewDisposeScope();
        var x64 = ScanInputs.Make(c, seed: 300 + index);
        var w = randn([c.Batch, c.Channels, c.Length], dtype: ScalarType.Float64, generator: new Generator(17));
        var (yRef, lastRef, gRef) = Run(x64, w, c.Softplus, reference: true, rows: false);
        var x32 = x64.Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        var (yRow, lastRow, gRow) = Run(x32, w, c.Softplus, reference: false, rows: true);
        var (yLane, lastLane, gLane) = Run(x32, w, c.Softplus, reference: false, rows: false);

        Assert.True(ScanInputs.RelErr(yRow, yRef) < 2e-5, $"{c}: y err {ScanInputs.RelErr(yRow, yRef)}");
        Assert.True(ScanInputs.RelErr(lastRow, lastRef) < 2e-5, $"{c}: last err {ScanInputs.RelErr(lastRow, lastRef)}");
        Assert.True(ScanInputs.RelErr(yRow, yLane) < 2e-5, $"{c}: y vs lane kernel");
        Assert.True(ScanInputs.RelErr(lastRow, lastLane) < 2e-5, $"{c}: last vs lane kernel");
        string[] names = ["u", "delta", "A", "B", "C", "D", "z", "deltaBias"];
        for (int i = 0; i < names.Length; i++)
        {
            if (x64[i] is null) continue;
            Assert.Equal(gRef[i]!.shape, gRow[i]!.shape);
            Assert.True(ScanInputs.RelErr(gRow[i]!, gRef[i]!) < 1e-4, $"{c}: d{names[i]} err {ScanInputs.RelErr(gRow[i]!, gRef[i]!)}");
            Assert.True(ScanInputs.RelErr(gRow[i]!, gLane[i]!) < 1e-4, $"{c}: d{names[i]} vs lane kernel");
        }
    }

    /// <summary>Per-thread dB/dC accumulators (2 threads) and non-temporal y stores give the 1-thread, plain-store result.</summary>
    [SkippableFact]
    public void TwoThreadsAndStreamingStoresMatch()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var c = new ScanCase(2, 40, 160, 1, 4, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 8).Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        var w = randn([c.Batch, c.Channels, c.Length], dtype: ScalarType.Float64, generator: new Generator(5));
        (Tensor, Tensor, Tensor?[]) With(int threads, long streamingBytes)
        {
            SelectiveScanCpu.ParallelismOverride = new ParallelOptions { MaxDegreeOfParallelism = threads };
            try
            {
                using (KernelOptions.Use(KernelOptions.Current with { ScanStreamingBytes = streamingBytes }))
                    return Run(x, w, true, reference: false, rows: true);
            }
            finally { SelectiveScanCpu.ParallelismOverride = null; }
        }
        var (y1, l1, g1) = With(1, long.MaxValue);
        var (y2, l2, g2) = With(2, 0);
        Assert.Equal(0.0, ScanInputs.RelErr(y2, y1));
        Assert.Equal(0.0, ScanInputs.RelErr(l2, l1));
        for (int i = 0; i < g1.Length; i++)
            if (g1[i] is not null) Assert.True(ScanInputs.RelErr(g2[i]!, g1[i]!) < 1e-6, $"input {i}");
    }

    /// <summary>Inference (no_grad) and training forward give the same y on the row kernel.</summary>
    [SkippableFact]
    public void NoGradForwardEqualsTrainingForward()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(1, 7, 150, 1, 0, true, true, true, true), 2)
            .Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Assert.True(ScanRowKernel.Preferred(Args(x, true)));
        Tensor yNoGrad;
        using (no_grad()) yNoGrad = Scan(x.Select(t => t).ToArray(), true);
        var yGrad = Scan(x.Select(t => t?.clone().requires_grad_(true)).ToArray(), true);
        Assert.True(yGrad.requires_grad);
        Assert.Equal(0.0, ScanInputs.RelErr(yNoGrad, yGrad.detach()));
    }

    static ScanArguments Args(Tensor?[] x, bool softplus) =>
        ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], softplus);

    static Tensor Scan(Tensor?[] x, bool softplus)
    {
        var (y, last) = SelectiveScan.ApplyWithLastState(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], softplus);
        last.Dispose();
        return y;
    }

    /// <summary>y, last state and the gradients of sum(y·w) (float64 copies), on the chosen implementation.</summary>
    static (Tensor y, Tensor last, Tensor?[] grads) Run(Tensor?[] x, Tensor w, bool softplus, bool reference, bool rows)
    {
        var inputs = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        // rows: short rows too, which dispatch alone would send to the lane kernel.
        using (KernelOptions.Use(KernelOptions.Current with { ScanRowKernel = rows }))
        {
            var args = Args(inputs, softplus);
            var (y, last) = reference ? SelectiveScanReference.Apply(args)
                : SelectiveScan.ApplyWithLastState(args.U, args.Delta, args.A, args.B, args.C, args.D, args.Z, args.DeltaBias, softplus);
            (y * w.to_type(y.dtype)).sum().backward();
            return (y.detach().to_type(ScalarType.Float64), last.to_type(ScalarType.Float64),
                inputs.Select(t => t?.grad?.to_type(ScalarType.Float64)).ToArray());
        }
    }
}
