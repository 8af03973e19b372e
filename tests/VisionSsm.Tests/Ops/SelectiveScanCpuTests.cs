using VisionSsm.Runtime;
using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary>The SIMD kernel against the reference twin (forward, last state, every gradient) and finite differences.</summary>
public class SelectiveScanCpuTests
{
    static readonly int[] Ns = [1, 4, 16, 64];
    static readonly int[] Ls = [1, 2, 7, 33, 197, 1000];
    static readonly int[] Batches = [1, 3];

    /// <summary>
    /// All 32 combinations of {grouped, z, D, deltaBias, softplus}; N, L and batch cycle with co-prime periods, so
    /// every value of each axis appears several times and with varied partners. Channels 4, 12 or 16 with
    /// G = 2, 4, 2 (12/4 = 3 channels per group: partial SIMD blocks).
    /// </summary>
    public static TheoryData<int> Grid()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < 32; i++) data.Add(i);
        return data;
    }

    static ScanCase GridCase(int i)
    {
        int[] channels = [4, 12, 16];
        int[] groups = [2, 4, 2];
        int ch = i % 3;
        return new ScanCase(Batches[(i / 4) % 2], channels[ch], Ls[i % 6], Ns[i % 4], (i & 1) != 0 ? groups[ch] : 0,
            WithD: (i & 4) != 0, WithZ: (i & 2) != 0, WithBias: (i & 8) != 0, Softplus: (i & 16) != 0);
    }

    [Fact]
    public void GridCoversEveryAxisValue()
    {
        var cases = Enumerable.Range(0, 32).Select(GridCase).ToList();
        Assert.True(Ns.All(n => cases.Any(c => c.States == n)));
        Assert.True(Ls.All(l => cases.Any(c => c.Length == l)));
        Assert.True(Batches.All(b => cases.Any(c => c.Batch == b)));
        Assert.Equal(32, cases.Select(c => (c.Groups > 0, c.WithZ, c.WithD, c.WithBias, c.Softplus)).Distinct().Count());
    }

    static Tensor Scan(Tensor?[] x, bool softplus, bool reference = false)
    {
        var args = ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], softplus);
        var (y, last) = reference ? SelectiveScanReference.Apply(args) : SelectiveScan.ApplyWithLastState(args.U, args.Delta,
            args.A, args.B, args.C, args.D, args.Z, args.DeltaBias, softplus);
        last.Dispose();
        return y;
    }

    /// <summary>
    /// float32 kernel vs the float64 reference on the same values: y, the last state, and the gradients of
    /// sum(y · w) for every input (u, Δ, A, B, C, D, z, deltaBias).
    /// </summary>
    [Theory]
    [MemberData(nameof(Grid))]
    public void KernelMatchesReference(int index)
    {
        var c = GridCase(index);
        using var scope = NewDisposeScope();
        var x64 = ScanInputs.Make(c, seed: 100 + index);
        var refIn = x64.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var kerIn = x64.Select(t => t?.to_type(ScalarType.Float32).requires_grad_(true)).ToArray();
        var w = randn([c.Batch, c.Channels, c.Length], dtype: ScalarType.Float64, generator: new Generator(9));

        var refArgs = ScanArguments.Validate(refIn[0]!, refIn[1]!, refIn[2]!, refIn[3]!, refIn[4]!, refIn[5], refIn[6], refIn[7], c.Softplus);
        var (yRef, lastRef) = SelectiveScanReference.Apply(refArgs);
        var (yKer, lastKer) = SelectiveScan.ApplyWithLastState(kerIn[0]!, kerIn[1]!, kerIn[2]!, kerIn[3]!, kerIn[4]!,
            kerIn[5], kerIn[6], kerIn[7], c.Softplus);
        Assert.Equal(ScalarType.Float32, yKer.dtype);
        Assert.Equal(new long[] { c.Batch, c.Channels, c.States }, lastKer.shape);
        Assert.False(lastKer.requires_grad);
        Assert.True(ScanInputs.RelErr(yKer, yRef) < 2e-5, $"{c}: y err {ScanInputs.RelErr(yKer, yRef)}");
        Assert.True(ScanInputs.RelErr(lastKer, lastRef) < 2e-5, $"{c}: last state err {ScanInputs.RelErr(lastKer, lastRef)}");

        (yRef * w).sum().backward();
        (yKer * w.to_type(ScalarType.Float32)).sum().backward();
        string[] names = ["u", "delta", "A", "B", "C", "D", "z", "deltaBias"];
        for (int i = 0; i < names.Length; i++)
        {
            if (refIn[i] is null) continue;
            var gk = kerIn[i]!.grad;
            Assert.True(gk is not null, $"{c}: no gradient for {names[i]}");
            Assert.Equal(refIn[i]!.shape, gk!.shape);
            double err = ScanInputs.RelErr(gk, refIn[i]!.grad!);
            Assert.True(err < 1e-4, $"{c}: d{names[i]} err {err}");
        }
    }

    /// <summary>The float64 kernel path (4 lanes) agrees with the float64 reference to rounding.</summary>
    [Theory]
    [InlineData(2, 6, 33, 16, 3, true, true, true, true)]     // 2 channels per group: partial blocks, 3 chunks
    [InlineData(1, 8, 197, 1, 0, false, false, false, false)]
    [InlineData(3, 4, 40, 4, 2, true, false, true, false)]
    public void Float64KernelMatchesReference(int batch, int channels, int length, int states, int groups, bool withD,
        bool withZ, bool withBias, bool softplus)
    {
        var c = new ScanCase(batch, channels, length, states, groups, withD, withZ, withBias, softplus);
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(c, seed: 5);
        var refIn = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var kerIn = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var w = randn([batch, channels, length], dtype: ScalarType.Float64, generator: new Generator(3));
        var yRef = Scan(refIn, softplus, reference: true);
        var yKer = Scan(kerIn, softplus);
        Assert.True(ScanInputs.RelErr(yKer, yRef) < 1e-12, $"y err {ScanInputs.RelErr(yKer, yRef)}");
        (yRef * w).sum().backward();
        (yKer * w).sum().backward();
        for (int i = 0; i < x.Length; i++)
            if (x[i] is not null)
                Assert.True(ScanInputs.RelErr(kerIn[i]!.grad!, refIn[i]!.grad!) < 1e-11, $"input {i}: {ScanInputs.RelErr(kerIn[i]!.grad!, refIn[i]!.grad!)}");
    }

    /// <summary>B grouped and C ungrouped (different group counts) in one call.</summary>
    [Fact]
    public void MixedGroupingOfBAndC()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(2, 12, 20, 4, 3, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 11);
        x[4] = randn([2, 4, 20], dtype: ScalarType.Float64, generator: new Generator(2));   // C: (batch, N, L)
        var refIn = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var kerIn = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var yRef = Scan(refIn, true, reference: true);
        var yKer = Scan(kerIn, true);
        Assert.True(ScanInputs.RelErr(yKer, yRef) < 1e-12);
        yRef.pow(2).sum().backward();
        yKer.pow(2).sum().backward();
        Assert.True(ScanInputs.RelErr(kerIn[3]!.grad!, refIn[3]!.grad!) < 1e-11);
        Assert.True(ScanInputs.RelErr(kerIn[4]!.grad!, refIn[4]!.grad!) < 1e-11);
    }

    public static TheoryData<bool> KernelOrReference() => new() { false, true };

    /// <summary>Central finite differences in float64 for all eight inputs, for the kernel and for the reference.</summary>
    [Theory]
    [MemberData(nameof(KernelOrReference))]
    public void GradientsMatchFiniteDifferences(bool reference)
    {
        // N = 16 → 16-step chunks, so L = 37 crosses two chunk boundaries of the backward's recomputation.
        foreach (var c in new[]
                 {
                     new ScanCase(2, 6, 37, 16, 2, true, true, true, true),
                     new ScanCase(1, 5, 9, 3, 0, true, true, true, false),
                 })
        {
            using var scope = NewDisposeScope();
            var x = ScanInputs.Make(c, seed: 21);
            var inputs = x.Where(t => t is not null).Select(t => t!).ToArray();
            var errors = Gradcheck.MaxRelativeError(v => Scan(Expand(v, x), c.Softplus, reference), inputs, maxElements: 24);
            for (int i = 0; i < errors.Length; i++)
                Assert.True(errors[i] < 1e-6, $"{c} input {i}: FD rel err {errors[i]}");
        }
    }

    static Tensor?[] Expand(Tensor[] present, Tensor?[] pattern)
    {
        var r = new Tensor?[pattern.Length];
        for (int i = 0, j = 0; i < pattern.Length; i++) r[i] = pattern[i] is null ? null : present[j++];
        return r;
    }

    /// <summary>Under no_grad the kernel stores no states; its result equals the training path's.</summary>
    [Fact]
    public void NoGradPathAgreesWithGradPath()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(2, 16, 70, 16, 0, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 4).Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Tensor yNoGrad;
        using (no_grad()) yNoGrad = Scan(x, true);
        var xg = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var yGrad = Scan(xg, true);
        Assert.True(yGrad.requires_grad);
        Assert.False(yNoGrad.requires_grad);
        Assert.Equal(0.0, ScanInputs.RelErr(yNoGrad, yGrad.detach()));
    }

    /// <summary>Two kernel threads (per-thread dB/dC accumulators merged at the end) give the one-thread result.</summary>
    [Fact]
    public void TwoThreadsMatchOneThread()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(3, 24, 50, 4, 3, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 8).Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        Tensor[] Run(int threads)
        {
            SelectiveScanCpu.ParallelismOverride = new ParallelOptions { MaxDegreeOfParallelism = threads };
            try
            {
                var xi = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
                var y = Scan(xi, true);
                y.pow(2).sum().backward();
                return [y.detach(), .. xi.Where(t => t is not null).Select(t => t!.grad!)];
            }
            finally { SelectiveScanCpu.ParallelismOverride = null; }
        }
        var one = Run(1);
        var two = Run(2);
        for (int i = 0; i < one.Length; i++)
            Assert.True(ScanInputs.RelErr(two[i], one[i]) < 1e-6, $"output {i}");
    }

    /// <summary>Non-contiguous views (transposed B/C as Mamba produces them, strided u) give the contiguous result.</summary>
    [Fact]
    public void NonContiguousInputs()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(2, 8, 12, 4, 0, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 6);
        var y = Scan(x, true);
        var bT = x[3]!.transpose(1, 2).contiguous().transpose(1, 2);    // same values, strides of a transpose
        var uWide = cat([x[0]!, x[0]!], 2).narrow(2, 0, 12);           // strided view
        Assert.False(bT.is_contiguous());
        Assert.False(uWide.is_contiguous());
        var y2 = Scan([uWide, x[1], x[2], bT, x[4], x[5], x[6], x[7]], true);
        Assert.True(ScanInputs.RelErr(y2, y) < 1e-14);
    }

    /// <summary>
    /// Backward after the forward's dispose scope has ended (as in every model's forward): TorchSharp 0.107 would
    /// zero-fill the missing last-state gradient from a tensor that scope already freed.
    /// </summary>
    [Fact]
    public void BackwardAfterForwardScopeEnds()
    {
        using var outer = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(1, 8, 20, 4, 0, true, true, true, true), 3)
            .Select(t => t?.to_type(ScalarType.Float32).requires_grad_(true)).ToArray();
        Tensor loss;
        using (NewDisposeScope()) loss = Scan(x, true).sum().MoveToOuterDisposeScope();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        loss.backward();
        Assert.All(x, t => Assert.True(t!.grad is not null));
    }

    /// <summary>The non-temporal store path for large outputs writes the same values as ordinary stores.</summary>
    [Fact]
    public void StreamingStoresWriteTheSameValues()
    {
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(2, 16, 64, 2, 0, true, true, true, true), 12)
            .Select(t => t?.to_type(ScalarType.Float32)).ToArray();
        using var _ = no_grad();
        var plain = Scan(x, true);
        Tensor streamed;
        using (KernelOptions.Use(KernelOptions.Current with { ScanStreamingBytes = 0 })) streamed = Scan(x, true);
        Assert.Equal(0.0, ScanInputs.RelErr(streamed, plain));
    }

    /// <summary>The 512-bit block pairs (used on AVX-512 machines) and the one-block 256-bit kernel agree.</summary>
    [SkippableFact]
    public void Vector512PairsMatchVector256Blocks()
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(2, 16, 40, 5, 0, true, true, true, true), 13)   // odd N: pairs + one
            .Select(t => t?.to_type(ScalarType.Float32).requires_grad_(true)).ToArray();
        var y512 = Scan(x, true);
        y512.pow(2).sum().backward();
        var g512 = x.Select(t => t!.grad!.clone()).ToArray();
        foreach (var t in x) t!.grad!.zero_();
        Tensor y256;
        using (KernelOptions.Use(KernelOptions.Current with { ScanVector512 = false }))
        {
            y256 = Scan(x, true);
            y256.pow(2).sum().backward();
        }
        Assert.True(ScanInputs.RelErr(y512, y256) < 1e-6);
        for (int i = 0; i < x.Length; i++) Assert.True(ScanInputs.RelErr(g512[i], x[i]!.grad!) < 1e-5, $"input {i}");
    }

    /// <summary>
    /// The paired-block forward and backward (two 8-channel blocks per 512-bit vector, AVX-512, N ≥ 2) against the Vector256
    /// step and the float64 reference: odd block counts (a single block left over), several groups, batch 2,
    /// several chunks (saved states for the backward), odd N; y, last state and all gradients.
    /// </summary>
    [SkippableTheory]
    [InlineData(2, 40, 100, 4, 0)]      // 5 blocks: 2 pairs + 1 single; 2 chunks
    [InlineData(2, 48, 40, 64, 2)]      // 3 blocks per group: a pair and a single per group; 3 chunks
    [InlineData(1, 32, 37, 7, 1)]       // odd N, 2 pairs
    public void PairedBlocksMatchVector256StepAndReference(int batch, int channels, int length, int states, int groups)
    {
        Hardware.RequireAvx512();
        using var scope = NewDisposeScope();
        var c = new ScanCase(batch, channels, length, states, groups, true, true, true, true);
        var x64 = ScanInputs.Make(c, seed: 40 + states);
        var w = randn([batch, channels, length], dtype: ScalarType.Float64, generator: new Generator(4));
        (Tensor y, Tensor last, Tensor[] grads) Run(bool v512, bool reference)
        {
            var xi = x64.Select(t => (reference ? t?.clone() : t?.to_type(ScalarType.Float32))?.requires_grad_(true)).ToArray();
            using (KernelOptions.Use(KernelOptions.Current with { ScanVector512 = v512 }))
            {
                var args = ScanArguments.Validate(xi[0]!, xi[1]!, xi[2]!, xi[3]!, xi[4]!, xi[5], xi[6], xi[7], true);
                var (y, last) = reference ? SelectiveScanReference.Apply(args)
                    : SelectiveScan.ApplyWithLastState(args.U, args.Delta, args.A, args.B, args.C, args.D, args.Z, args.DeltaBias, true);
                (y * w.to_type(y.dtype)).sum().backward();
                return (y.detach(), last, xi.Select(t => t!.grad!).ToArray());
            }
        }
        var paired = Run(true, false);
        var step256 = Run(false, false);
        var reference = Run(true, true);
        Assert.True(ScanInputs.RelErr(paired.y, step256.y) < 1e-6, "y vs Vector256 step");
        Assert.True(ScanInputs.RelErr(paired.last, step256.last) < 1e-6, "last vs Vector256 step");
        Assert.True(ScanInputs.RelErr(paired.y, reference.y) < 2e-5, "y vs reference");
        Assert.True(ScanInputs.RelErr(paired.last, reference.last) < 2e-5, "last vs reference");
        for (int i = 0; i < paired.grads.Length; i++)
        {
            Assert.True(ScanInputs.RelErr(paired.grads[i], step256.grads[i]) < 1e-5, $"input {i} vs Vector256 step");
            Assert.True(ScanInputs.RelErr(paired.grads[i], reference.grads[i]) < 1e-4, $"input {i} vs reference");
        }
    }

    [Fact]
    public void DispatchUsesKernelOnCpu()
    {
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(1, 4, 3, 2, 0, false, false, false, false), 1);
        var args = ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, null, null, null, false);
        Assert.True(SelectiveScanCpu.Supports(args));
    }
}
