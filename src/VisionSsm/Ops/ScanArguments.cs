using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// The validated arguments of one selective-scan call, with mamba_ssm's <c>selective_scan_fn</c> layouts
/// (docs/selective-scan.md §1): u, delta, z (batch, D, L); A (D, N); B, C (batch, N, L) or grouped
/// (batch, G, N, L) with D divisible by G; D skip and deltaBias (D).
/// </summary>
public sealed record ScanArguments(
    Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C,
    Tensor? D, Tensor? Z, Tensor? DeltaBias, bool DeltaSoftplus)
{
    public long Batch => U.shape[0];
    public long Channels => U.shape[1];
    public long Length => U.shape[2];
    public long States => A.shape[1];
    /// <summary>Groups of B (1 when B is (batch, N, L)).</summary>
    public long GroupsB => B.dim() == 4 ? B.shape[1] : 1;
    /// <summary>Groups of C (1 when C is (batch, N, L)).</summary>
    public long GroupsC => C.dim() == 4 ? C.shape[1] : 1;

    /// <summary>Checks ranks, sizes, dtypes and devices; throws <see cref="ArgumentException"/> naming the argument.</summary>
    public static ScanArguments Validate(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D, Tensor? z, Tensor? deltaBias, bool deltaSoftplus)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentNullException.ThrowIfNull(A);
        ArgumentNullException.ThrowIfNull(B);
        ArgumentNullException.ThrowIfNull(C);
        if (u.dim() != 3) throw Bad(nameof(u), u, "(batch, D, L)");
        if (u.dtype != ScalarType.Float32 && u.dtype != ScalarType.Float64)
            throw new ArgumentException($"Argument 'u' has dtype {u.dtype}; expected Float32 or Float64.", nameof(u));
        long b = u.shape[0], d = u.shape[1], l = u.shape[2];
        if (A.dim() != 2 || A.shape[0] != d) throw Bad(nameof(A), A, $"(D, N) = [{d}, N]");
        long n = A.shape[1];
        if (n < 1) throw Bad(nameof(A), A, $"(D, N) with N ≥ 1");
        Expect(nameof(delta), delta, [b, d, l], "(batch, D, L), the shape of u");
        CheckGrouped(nameof(B), B, b, d, n, l);
        CheckGrouped(nameof(C), C, b, d, n, l);
        if (D is not null) Expect(nameof(D), D, [d], "(D)");
        if (z is not null) Expect(nameof(z), z, [b, d, l], "(batch, D, L), the shape of u");
        if (deltaBias is not null) Expect(nameof(deltaBias), deltaBias, [d], "(D)");

        foreach (var (name, t) in new (string, Tensor?)[] { (nameof(delta), delta), (nameof(A), A), (nameof(B), B), (nameof(C), C), (nameof(D), D), (nameof(z), z), (nameof(deltaBias), deltaBias) })
        {
            if (t is null) continue;
            if (t.dtype != u.dtype)
                throw new ArgumentException($"Argument '{name}' has dtype {t.dtype}; expected {u.dtype}, the dtype of u (mixed dtypes are not supported).", name);
            if (t.device_type != u.device_type || t.device_index != u.device_index)
                throw new ArgumentException($"Argument '{name}' is on device {t.device}; expected {u.device}, the device of u.", name);
        }
        return new ScanArguments(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus);
    }

    static void CheckGrouped(string name, Tensor t, long b, long d, long n, long l)
    {
        if (t.dim() == 3)
        {
            Expect(name, t, [b, n, l], "(batch, N, L) or (batch, G, N, L)");
            return;
        }
        if (t.dim() != 4) throw Bad(name, t, $"(batch, N, L) = [{b}, {n}, {l}] or (batch, G, N, L) = [{b}, G, {n}, {l}]");
        long g = t.shape[1];
        if (g < 1 || d % g != 0)
            throw new ArgumentException($"Argument '{name}' has shape {Fmt(t.shape)} with G = {g} groups; expected G to divide D = {d}.", name);
        Expect(name, t, [b, g, n, l], "(batch, G, N, L)");
    }

    static void Expect(string name, Tensor t, long[] shape, string meaning)
    {
        if (!t.shape.SequenceEqual(shape))
            throw new ArgumentException($"Argument '{name}' has shape {Fmt(t.shape)}; expected {Fmt(shape)} {meaning}.", name);
    }

    static ArgumentException Bad(string name, Tensor t, string expected) =>
        new($"Argument '{name}' has shape {Fmt(t.shape)}; expected {expected}.", name);

    internal static string Fmt(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
