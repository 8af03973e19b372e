using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VisionSsm.Ops;

/// <summary>
/// Two independent <see cref="Vector256{T}"/> of float processed in lockstep, as <see cref="VectorPair"/> does for
/// 512-bit vectors: every operation is emitted twice back to back. The lane scan's per-step elementwise math (the
/// softplus of Δ, the SiLU gate) is a long dependent chain per vector (exp, then a log1p or a division); on a core
/// whose floating-point scheduler holds about one such chain (first-generation Zen), two chains interleaved in the
/// instruction stream run nearly twice as fast as two in sequence. Min and max are the x86 instructions (the second
/// operand is returned when either is NaN), not .NET's IEEE 754 <c>Vector256.Min/Max</c>, which with a non-constant
/// operand compile to a sequence of compares and blends.
/// </summary>
internal readonly struct VectorPair256(Vector256<float> lo, Vector256<float> hi)
{
    public readonly Vector256<float> Lo = lo, Hi = hi;

    public static VectorPair256 Zero => default;
    public static VectorPair256 One => Splat(1f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Splat(float v) => new(Vector256.Create(v), Vector256.Create(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Splat(Vector256<float> v) => new(v, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 operator +(VectorPair256 a, VectorPair256 b) => new(a.Lo + b.Lo, a.Hi + b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 operator -(VectorPair256 a, VectorPair256 b) => new(a.Lo - b.Lo, a.Hi - b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 operator *(VectorPair256 a, VectorPair256 b) => new(a.Lo * b.Lo, a.Hi * b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 operator /(VectorPair256 a, VectorPair256 b) => new(a.Lo / b.Lo, a.Hi / b.Hi);

    /// <summary>a·b + c with one rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Fma(VectorPair256 a, VectorPair256 b, VectorPair256 c) =>
        new(Vector256.FusedMultiplyAdd(a.Lo, b.Lo, c.Lo), Vector256.FusedMultiplyAdd(a.Hi, b.Hi, c.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Max(VectorPair256 a, VectorPair256 b) => new(Avx.Max(a.Lo, b.Lo), Avx.Max(a.Hi, b.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Min(VectorPair256 a, VectorPair256 b) => new(Avx.Min(a.Lo, b.Lo), Avx.Min(a.Hi, b.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Abs(VectorPair256 a) => new(Vector256.Abs(a.Lo), Vector256.Abs(a.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 GreaterThan(VectorPair256 a, VectorPair256 b) =>
        new(Vector256.GreaterThan(a.Lo, b.Lo), Vector256.GreaterThan(a.Hi, b.Hi));

    /// <summary>Per lane: <paramref name="a"/> where the mask is set, else <paramref name="b"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 Select(VectorPair256 mask, VectorPair256 a, VectorPair256 b) =>
        new(Vector256.ConditionalSelect(mask.Lo, a.Lo, b.Lo), Vector256.ConditionalSelect(mask.Hi, a.Hi, b.Hi));

    /// <summary>Adds the two halves' integer bit patterns (the exponent step of <see cref="FastMath.Exp2F(Vector256{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 AddBits(VectorPair256 a, VectorPair256 b) =>
        new((a.Lo.As<float, int>() + b.Lo.As<float, int>()).As<int, float>(), (a.Hi.As<float, int>() + b.Hi.As<float, int>()).As<int, float>());

    /// <summary>The bit patterns shifted left by <paramref name="count"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair256 ShiftBitsLeft(VectorPair256 a, int count) =>
        new(Vector256.ShiftLeft(a.Lo.As<float, int>(), count).As<int, float>(), Vector256.ShiftLeft(a.Hi.As<float, int>(), count).As<int, float>());
}
