using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary>
/// The loop-free chunked scan against the reference twin (forward, last state, every gradient), finite differences,
/// and long sequences with strong decay.
/// </summary>
/// <remarks>
/// Tolerances (errors relative to max(1, max |reference|)). float64: the two forms add the same terms in a different
/// order (exp of a difference of prefix sums vs a running product of exps), a few ulps per term; the grid shows
/// ≤ 4e-14, so 1e-12. float32 against the float64 reference: a prefix sum S carries ~Q·ε₃₂·|S| absolute error and
/// each exp the same relative error, on top of float32 inputs; the grid shows ≤ 2e-6 (dA and dΔbias, summed over
/// batch and L, are the largest), so 1e-5 for y and the state and 2e-5 for gradients.
/// </remarks>
/// </remarks>
public class SelectiveScanChunkedTests
{
    const int Q = 16;
    static readonly int[] Ls = [5, 37, 64, 301];   // L < Q; odd and padded; 4 whole chunks; 19 chunks (two levels, padded)
    static readonly int[] Ns = [1, 16];
    static readonly int[] Gs = [0, 1, 2];
    static readonly string[] Names = ["u", "delta", "A", "B", "C", "D", "z", "deltaBias"];

    /// <summary>All 16 combinations of {z, D, deltaBias, softplus} (8 of them twice); L, N and G cycle with periods 4, 2·4 and 3.</summary>
    public static TheoryData<int> Grid()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < 24; i++) data.Add(i);
        return data;
    }

    static ScanCase GridCase(int i) =>
        new(2, 4, Ls[i % 4], Ns[(i / 4) % 2], Gs[i % 3],
            WithD: (i & 1) != 0, WithZ: (i & 2) != 0, WithBias: (i & 4) != 0, Softplus: (i & 8) != 0);

    [Fact]
    public void GridCoversEveryAxisValue()
    {
        var cases = Enumerable.Range(0, 24).Select(GridCase).ToList();
        Assert.True(Ls.All(l => cases.Any(c => c.Length == l)));
        foreach (int l in Ls)
            Assert.True(Ns.All(n => cases.Any(c => c.Length == l && c.States == n)), $"L {l}: both N");
        Assert.True(Gs.All(g => cases.Any(c => c.Groups == g)));
        Assert.Equal(16, cases.Select(c => (c.WithZ, c.WithD, c.WithBias, c.Softplus)).Distinct().Count());
    }

    static ScanArguments Args(Tensor?[] x, bool softplus) =>
        ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], softplus);

    /// <summary>Chunked (in <paramref name="dtype"/>) vs the float64 reference: y, last state, and the gradient of sum(y · w) for every input.</summary>
    static void CompareWithReference(ScanCase c, int seed, ScalarType dtype, double yTol, double gradTol, int chunk = Q)
    {
        using var scope = NewDisposeScope();
        var x64 = ScanInputs.Make(c, seed);
        var refIn = x64.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var chIn = x64.Select(t => t?.to_type(dtype).requires_grad_(true)).ToArray();
        var w = randn([c.Batch, c.Channels, c.Length], dtype: ScalarType.Float64, generator: new Generator((ulong)seed + 1));

        var (yRef, lastRef) = SelectiveScanReference.Apply(Args(refIn, c.Softplus));
        var (yCh, lastCh) = SelectiveScanChunked.Apply(Args(chIn, c.Softplus), chunk);
        Assert.Equal(dtype, yCh.dtype);
        Assert.Equal(new long[] { c.Batch, c.Channels, c.Length }, yCh.shape);
        Assert.Equal(new long[] { c.Batch, c.Channels, c.States }, lastCh.shape);
        Assert.False(lastCh.requires_grad);
        double ey = ScanInputs.RelErr(yCh, yRef), es = ScanInputs.RelErr(lastCh, lastRef);
        Assert.True(ey < yTol, $"{c} Q{chunk}: y err {ey}");
        Assert.True(es < yTol, $"{c} Q{chunk}: last state err {es}");

        (yRef * w).sum().backward();
        (yCh * w.to_type(dtype)).sum().backward();
        for (int i = 0; i < Names.Length; i++)
        {
            if (refIn[i] is null) continue;
            var g = chIn[i]!.grad;
            Assert.True(g is not null, $"{c}: no gradient for {Names[i]}");
            Assert.Equal(refIn[i]!.shape, g!.shape);
            double err = ScanInputs.RelErr(g, refIn[i]!.grad!);
            Assert.True(err < gradTol, $"{c} Q{chunk}: d{Names[i]} err {err}");
        }
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void Float64MatchesReference(int index) =>
        CompareWithReference(GridCase(index), 300 + index, ScalarType.Float64, 1e-12, 1e-12);

    [Theory]
    [MemberData(nameof(Grid))]
    public void Float32MatchesReference(int index) =>
        CompareWithReference(GridCase(index), 400 + index, ScalarType.Float32, 1e-5, 2e-5);

    /// <summary>
    /// The chunk length changes only rounding: Q = 2 (nine levels on L = 301), 3, 7, Q ≥ L (one chunk), and L a power
    /// of Q (no padding at any level, so the upper levels see strided chunk-end views).
    /// </summary>
    [Theory]
    [InlineData(2, 301)]
    [InlineData(3, 301)]
    [InlineData(7, 301)]
    [InlineData(512, 301)]
    [InlineData(4, 64)]
    [InlineData(4, 256)]
    public void AnyChunkLengthMatchesReference(int chunk, int length) =>
        CompareWithReference(new ScanCase(2, 4, length, 4, 2, true, true, true, true), 500 + chunk, ScalarType.Float64, 1e-12, 1e-12, chunk);

    /// <summary>B grouped and C ungrouped in one call.</summary>
    [Fact]
    public void MixedGroupingOfBAndC()
    {
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(new ScanCase(2, 6, 41, 3, 3, true, true, true, true), seed: 11);
        x[4] = randn([2, 3, 41], dtype: ScalarType.Float64, generator: new Generator(12));
        var (yRef, lastRef) = SelectiveScanReference.Apply(Args(x, true));
        var (yCh, lastCh) = SelectiveScanChunked.Apply(Args(x, true), chunkLength: 8);
        Assert.True(ScanInputs.RelErr(yCh, yRef) < 1e-12);
        Assert.True(ScanInputs.RelErr(lastCh, lastRef) < 1e-12);
    }

    /// <summary>Central differences in float64 on a tiny case: two levels of chunks (L 11, Q 4 → 3 chunks), padding, groups, every option.</summary>
    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var c = new ScanCase(1, 4, 11, 2, 2, true, true, true, true);
        var x = ScanInputs.Make(c, seed: 21);
        var errors = Gradcheck.MaxRelativeError(t =>
            SelectiveScanChunked.Apply(Args(t.Cast<Tensor?>().ToArray(), true), chunkLength: 4).y, x.Select(t => t!).ToArray());
        for (int i = 0; i < errors.Length; i++)
            Assert.True(errors[i] < 1e-6, $"d{Names[i]}: {errors[i]}");
    }

    /// <summary>
    /// L = 2000 with half the states decaying hard (A·Δ down to ≈ −150 per step, so chunk sums reach −10⁴) and half
    /// barely (memory over the whole sequence): float32 stays finite and matches the float64 reference as closely as
    /// on the grid (≤ 7e-7 seen; 1e-5).
    /// </summary>
    [Fact]
    public void LongSequenceWithStrongDecayStaysFinite()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(1, 3, 2000, 8, 0, true, false, false, false);
        var x = ScanInputs.Make(c, seed: 31);
        var g = new Generator(32);
        var strong = -exp(randn([3, 4], dtype: ScalarType.Float64, generator: g) + 4);          // ≈ −55, up to −300
        var weak = -exp(randn([3, 4], dtype: ScalarType.Float64, generator: g) * 0.5 - 6);      // ≈ −0.0025
        x[2] = cat([strong, weak], 1);
        x[1] = x[1]! * 2;                                                                        // Δ up to ≈ 1
        var refIn = x.Select(t => t?.clone().requires_grad_(true)).ToArray();
        var chIn = x.Select(t => t?.to_type(ScalarType.Float32).requires_grad_(true)).ToArray();
        var (yRef, lastRef) = SelectiveScanReference.Apply(Args(refIn, false));
        var (yCh, lastCh) = SelectiveScanChunked.Apply(Args(chIn, false));
        Assert.True(yRef.isfinite().all().item<bool>());
        Assert.True(yCh.isfinite().all().item<bool>() && lastCh.isfinite().all().item<bool>());
        Assert.True(ScanInputs.RelErr(yCh, yRef) < 1e-5, $"y err {ScanInputs.RelErr(yCh, yRef)}");
        Assert.True(ScanInputs.RelErr(lastCh, lastRef) < 1e-5, $"state err {ScanInputs.RelErr(lastCh, lastRef)}");
        var w = randn([1, 3, 2000], dtype: ScalarType.Float64, generator: g);
        (yRef * w).sum().backward();
        (yCh * w.to_type(ScalarType.Float32)).sum().backward();
        for (int i = 0; i < 6; i++)
        {
            if (refIn[i] is null) continue;
            Assert.True(chIn[i]!.grad!.isfinite().all().item<bool>(), $"d{Names[i]} not finite");
            double err = ScanInputs.RelErr(chIn[i]!.grad!, refIn[i]!.grad!);
            Assert.True(err < 1e-5, $"d{Names[i]} err {err}");
        }
    }

    /// <summary>Δ·A so negative that exp underflows to 0 inside a chunk (−10⁴ per step): no NaN from ∞ − ∞ or 0 · ∞.</summary>
    [Fact]
    public void ExtremeDecayGivesNoNaN()
    {
        using var scope = NewDisposeScope();
        var c = new ScanCase(1, 2, 100, 2, 0, false, false, false, false);
        var x = ScanInputs.Make(c, seed: 41);
        x[2] = full([2, 2], -1e4, dtype: ScalarType.Float64);
        var chIn = x.Select(t => t?.to_type(ScalarType.Float32).requires_grad_(true)).ToArray();
        var (yRef, _) = SelectiveScanReference.Apply(Args(x, false));
        var (yCh, _) = SelectiveScanChunked.Apply(Args(chIn, false));
        yCh.sum().backward();
        Assert.True(yCh.isfinite().all().item<bool>());
        for (int i = 0; i < 5; i++)
            Assert.True(chIn[i]!.grad!.isfinite().all().item<bool>(), $"d{Names[i]} not finite");
        Assert.True(ScanInputs.RelErr(yCh, yRef) < 1e-5);
    }

    /// <summary>The public argument form agrees with the ScanArguments form; L = 0 and L = 1 work.</summary>
    [Fact]
    public void PublicFormsAndEdgeLengths()
    {
        using var scope = NewDisposeScope();
        foreach (int l in new[] { 0, 1 })
        {
            var x = ScanInputs.Make(new ScanCase(2, 4, l, 3, 2, true, true, true, true), seed: 51);
            var y = SelectiveScanChunked.Apply(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], deltaSoftplus: true);
            var (y2, last) = SelectiveScanChunked.ApplyWithLastState(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], deltaSoftplus: true);
            Assert.Equal(new long[] { 2, 4, l }, y.shape);
            Assert.Equal(new long[] { 2, 4, 3 }, last.shape);
            if (l > 0)
            {
                Assert.True(ScanInputs.RelErr(y, y2) == 0);
                var (yRef, lastRef) = SelectiveScanReference.Apply(Args(x, true));
                Assert.True(ScanInputs.RelErr(y, yRef) < 1e-12 && ScanInputs.RelErr(last, lastRef) < 1e-12);
            }
        }
    }
}
