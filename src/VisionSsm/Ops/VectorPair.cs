using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VisionSsm.Ops;

/// <summary>
/// Two independent <see cref="Vector512{T}"/> of float processed in lockstep: every operation is emitted twice back
/// to back. The elementwise math of the N = 1 scan (exp, log1p, a division) is one long dependent chain per vector
/// (~150 cycles); with one vector per loop iteration the out-of-order window holds too few iterations to hide it.
/// Interleaving two vectors in the instruction stream doubles the parallelism the window sees.
/// </summary>
internal readonly struct VectorPair(Vector512<float> lo, Vector512<float> hi)
{
    public readonly Vector512<float> Lo = lo, Hi = hi;

    public static VectorPair Zero => default;
    public static VectorPair One => Splat(1f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Splat(float v) => new(Vector512.Create(v), Vector512.Create(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Splat(Vector512<float> v) => new(v, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair operator +(VectorPair a, VectorPair b) => new(a.Lo + b.Lo, a.Hi + b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair operator -(VectorPair a, VectorPair b) => new(a.Lo - b.Lo, a.Hi - b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair operator -(VectorPair a) => new(-a.Lo, -a.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair operator *(VectorPair a, VectorPair b) => new(a.Lo * b.Lo, a.Hi * b.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair operator /(VectorPair a, VectorPair b) => new(a.Lo / b.Lo, a.Hi / b.Hi);

    /// <summary>a·b + c with one rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Fma(VectorPair a, VectorPair b, VectorPair c) =>
        new(Vector512.FusedMultiplyAdd(a.Lo, b.Lo, c.Lo), Vector512.FusedMultiplyAdd(a.Hi, b.Hi, c.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Max(VectorPair a, VectorPair b) => new(Vector512.Max(a.Lo, b.Lo), Vector512.Max(a.Hi, b.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Min(VectorPair a, VectorPair b) => new(Vector512.Min(a.Lo, b.Lo), Vector512.Min(a.Hi, b.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Abs(VectorPair a) => new(Vector512.Abs(a.Lo), Vector512.Abs(a.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair GreaterThan(VectorPair a, VectorPair b) =>
        new(Vector512.GreaterThan(a.Lo, b.Lo), Vector512.GreaterThan(a.Hi, b.Hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair GreaterThanOrEqual(VectorPair a, VectorPair b) =>
        new(Vector512.GreaterThanOrEqual(a.Lo, b.Lo), Vector512.GreaterThanOrEqual(a.Hi, b.Hi));

    /// <summary>Lanes of <paramref name="ifTrue"/> where <paramref name="mask"/> is set, else of <paramref name="ifFalse"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair Select(VectorPair mask, VectorPair ifTrue, VectorPair ifFalse) =>
        new(Vector512.ConditionalSelect(mask.Lo, ifTrue.Lo, ifFalse.Lo), Vector512.ConditionalSelect(mask.Hi, ifTrue.Hi, ifFalse.Hi));
}
