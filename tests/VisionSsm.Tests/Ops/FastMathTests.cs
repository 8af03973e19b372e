using System.Runtime.Intrinsics;
using VisionSsm.Ops;

namespace VisionSsm.Tests.Ops;

/// <summary>The kernel's own vector exp/softplus/sigmoid against System.Math in double precision.</summary>
public class FastMathTests
{
    static IEnumerable<double> Grid(double lo, double hi, int count) =>
        Enumerable.Range(0, count).Select(i => lo + (hi - lo) * i / (count - 1));

    static double Softplus(double x) => x > 20 ? x : Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    [Fact]
    public void FloatExpIsAccurateToAFewUlp()
    {
        foreach (double x in Grid(-87, 88, 20001).Concat(Grid(-1e-3, 1e-3, 101)))
        {
            float got = FastMath.ExpF(Vector256.Create((float)x)).GetElement(3);
            double want = Math.Exp((float)x);
            Assert.True(Math.Abs(got - want) <= 3e-7 * want, $"exp({x}) = {got}, expected {want}");
        }
        Assert.True(FastMath.ExpF(Vector256.Create(-200f)).GetElement(0) < 1e-37f);   // clamped, not garbage
    }

    [Fact]
    public void FloatExp2IsAccurateToAFewUlp()
    {
        // 2^x of the lane scan's exp(dt·A) = 2^(dt·A·log2 e): the degree-5 minimax polynomial's 7.5e-8 plus float rounding.
        foreach (double x in Grid(-125, 127, 20001).Concat(Grid(-1e-3, 1e-3, 101)).Concat(Grid(-0.5, 0.5, 1001)))
        {
            float got = FastMath.Exp2F(Vector256.Create((float)x)).GetElement(5);
            double want = Math.Pow(2, (float)x);
            Assert.True(Math.Abs(got - want) <= 3e-7 * want, $"2^{x} = {got}, expected {want}");
        }
        // Outside [-125, 127] the input is clamped (a normal number, never a wrapped exponent).
        Assert.Equal(1, FastMath.Exp2F(Vector256.Create(-300f)).GetElement(0) / Math.Pow(2, -125), 3e-7);
        Assert.Equal(1, FastMath.Exp2F(Vector256.Create(1000f)).GetElement(0) / Math.Pow(2, 127), 3e-7);
        Assert.Equal(1, FastMath.Exp2F(Vector256<float>.Zero).GetElement(0), 3e-7);
    }

    /// <summary>True when this thread's float arithmetic flushes subnormal results to 0 (MXCSR.FTZ): a normal
    /// <paramref name="normal"/> (passed in, so the JIT cannot fold it) times 1/4 is subnormal.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static bool FlushesSubnormalResults(float normal) => normal * 0.25f == 0f;

    [SkippableFact]
    public void Float512ExpIsAccurateToAFewUlp()
    {
        // The 16-lane exp of the N ≥ 2 scan loops (vrndscaleps / vscalefps on AVX-512F, the bit trick otherwise).
        Hardware.RequireAvx512();
        foreach (double x in Grid(-87, 88, 20001).Concat(Grid(-1e-3, 1e-3, 101)))
        {
            float got = FastMath.ExpF(Vector512.Create((float)x)).GetElement(11);
            double want = Math.Exp((float)x);
            Assert.True(Math.Abs(got - want) <= 3e-7 * want, $"exp({x}) = {got}, expected {want}");
        }
        Assert.True(FastMath.ExpF(Vector512.Create(-200f)).GetElement(0) < 1e-37f);   // tiny or 0, not garbage
        Assert.True(FastMath.ExpF(Vector512.Create(-200f)).GetElement(0) >= 0f);
        Assert.Equal(FastMath.ExpF(Vector256.Create(-3.7f)).GetElement(0), FastMath.ExpF(Vector512.Create(-3.7f)).GetElement(0));
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            // vscalefps saturates like expf: +∞ past the float range, subnormals then 0 below it.
            Assert.Equal(float.PositiveInfinity, FastMath.ExpF(Vector512.Create(100f)).GetElement(0));
            Assert.Equal(0f, FastMath.ExpF(Vector512.Create(-200f)).GetElement(0));
            float sub = FastMath.ExpF(Vector512.Create(-95f)).GetElement(0);
            // A native library on this thread (libtorch's kernels run on the test threads) may have left the CPU in
            // flush-to-zero mode, where every subnormal result is 0, the hardware's own expf included.
            if (FlushesSubnormalResults(2e-38f)) Assert.Equal(0f, sub);
            else Assert.True(Math.Abs(sub - Math.Exp(-95)) <= 1e-3 * Math.Exp(-95), $"exp(-95) = {sub}");   // subnormal: fewer bits
        }
    }

    [SkippableFact]
    public void Float512Exp2IsAccurateToAFewUlp()
    {
        // The 16-lane 2^x of the N ≥ 2 scan loops on A·log2 e; equal to the 8-lane one inside its clamp range.
        Hardware.RequireAvx512();
        foreach (double x in Grid(-125, 127, 20001).Concat(Grid(-1e-3, 1e-3, 101)).Concat(Grid(-0.5, 0.5, 1001)))
        {
            float got = FastMath.Exp2F(Vector512.Create((float)x)).GetElement(13);
            double want = Math.Pow(2, (float)x);
            Assert.True(Math.Abs(got - want) <= 3e-7 * want, $"2^{x} = {got}, expected {want}");
        }
        Assert.Equal(FastMath.Exp2F(Vector256.Create(-7.3f)).GetElement(0), FastMath.Exp2F(Vector512.Create(-7.3f)).GetElement(0));
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            // vscalefps: +∞ past the float range, 0 far below it (never a wrapped exponent).
            Assert.Equal(float.PositiveInfinity, FastMath.Exp2F(Vector512.Create(200f)).GetElement(0));
            Assert.Equal(0f, FastMath.Exp2F(Vector512.Create(-300f)).GetElement(0));
        }
    }

    [Fact]
    public void DoubleExpIsAccurateToRounding()
    {
        foreach (double x in Grid(-700, 700, 20001))
        {
            double got = FastMath.ExpD(Vector256.Create(x)).GetElement(1);
            double want = Math.Exp(x);
            Assert.True(Math.Abs(got - want) <= 5e-15 * want, $"exp({x}) = {got}, expected {want}");
        }
    }

    [Fact]
    public void SoftplusAndItsGradientMatchTheDefinition()
    {
        foreach (double x in Grid(-40, 40, 4001).Append(20.0).Append(20.0001))
        {
            double sp = FastMath.SoftplusWithGrad(Vector256.Create(x), out var g).GetElement(0);
            double want = Softplus(x);
            double wantGrad = x > 20 ? 1 : 1 / (1 + Math.Exp(-x));
            Assert.True(Math.Abs(sp - want) <= 1e-15 * Math.Max(1, want), $"softplus({x}) = {sp}, expected {want}");
            Assert.True(Math.Abs(g.GetElement(0) - wantGrad) <= 1e-15, $"σ({x})");
            Assert.Equal(sp, FastMath.Softplus(Vector256.Create(x)).GetElement(0), 15);
            float spf = FastMath.Softplus(Vector256.Create((float)x)).GetElement(0);
            Assert.True(Math.Abs(spf - Softplus((float)x)) <= 4e-7 * Math.Max(1e-30, Softplus((float)x)) + 1e-12, $"float softplus({x})");
        }
    }

    [Fact]
    public void SigmoidMatchesTheDefinition()
    {
        foreach (double x in Grid(-30, 30, 601))
        {
            float got = FastMath.Sigmoid(Vector256.Create((float)x)).GetElement(0);
            double want = 1 / (1 + Math.Exp(-(float)x));
            Assert.True(Math.Abs(got - want) <= 3e-7 * want, $"σ({x}) = {got}, expected {want}");
        }
    }

    /// <summary>softplus without the cancellation of log(1 + e) for tiny e = e^−|x| (series below 1e-4).</summary>
    static double AccurateSoftplus(double x)
    {
        if (x > 20) return x;
        double e = Math.Exp(-Math.Abs(x));
        return Math.Max(x, 0) + (e < 1e-4 ? e - e * e / 2 + e * e * e / 3 : Math.Log(1 + e));
    }

    /// <summary>The pair twins of the lane scan's elementwise math (both halves, different inputs) against the
    /// definitions in double precision: float accuracy plus the rounding of the exp's argument x·log2 e (relative
    /// 6e-8, an error of |x|·6e-8·ln 2 in e^x), allowed as 1e-7·|x|.</summary>
    [Fact]
    public void PairFunctionsMatchTheDefinitions()
    {
        foreach (double x in Grid(-40, 40, 2001).Append(20.0).Append(20.0001).Append(0.0))
        {
            float lo = (float)x, hi = (float)(-0.37 * x);
            var pair = new VectorPair256(Vector256.Create(lo), Vector256.Create(hi));
            foreach (var (half, v) in new[] { (0, (double)lo), (1, (double)hi) })
            {
                double Get(VectorPair256 p) => half == 0 ? p.Lo.GetElement(3) : p.Hi.GetElement(6);
                double sp = AccurateSoftplus(v), sig = 1 / (1 + Math.Exp(-v)), tol = 4e-7 + 1e-7 * Math.Abs(v);
                Assert.True(Math.Abs(Get(FastMath.Softplus(pair)) - sp) <= tol * sp + 1e-30, $"softplus({v}) = {Get(FastMath.Softplus(pair))}, expected {sp}");
                if (Math.Abs(v) <= 30)
                {
                    Assert.True(Math.Abs(Get(FastMath.Silu(pair)) - v * sig) <= tol * Math.Abs(v * sig) + 1e-30, $"silu({v})");
                }
                if (v >= -100 && v <= 100)
                    Assert.True(Math.Abs(Get(FastMath.Exp2F(pair)) / Math.Pow(2, v) - 1) <= 3e-7, $"2^{v}");
            }
        }
        var clamp = FastMath.Exp2F(new VectorPair256(Vector256.Create(-300f), Vector256.Create(1000f)));
        Assert.Equal(1, clamp.Lo.GetElement(0) / Math.Pow(2, -125), 3e-7);
        Assert.Equal(1, clamp.Hi.GetElement(0) / Math.Pow(2, 127), 3e-7);
    }
}
