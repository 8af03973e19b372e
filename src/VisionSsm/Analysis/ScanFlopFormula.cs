using System.Globalization;

namespace VisionSsm.Analysis;

/// <summary>Which formula the fvcore convention uses for one selective-scan call (docs/models/vmamba.md §8, docs/models/vim.md §8).</summary>
public enum ScanFlopFormula
{
    /// <summary>VMamba's <c>flops_selective_scan_fn</c>: 9·B·L·D·N + B·D·L (D skip) + B·D·L (z). The default.</summary>
    Fn,
    /// <summary>
    /// The older <c>flops_selective_scan_ref</c> (VMamba <c>csms6s.py</c>): numpy <c>einsum_path</c> counts of the
    /// reference scan's einsums, ≈ 3.5·B·L·D·N + B·D·L (+ B·D·L for z). The "Vim-S 5.3G" of older tables.
    /// </summary>
    Ref,
}

/// <summary>The old reference-scan FLOP formula, derived term by term from the einsums it counts.</summary>
public static class ScanRefFlops
{
    /// <summary>
    /// <c>flops_selective_scan_ref(B, L, D, N, with_D, with_Z, with_Group=True)</c>:
    /// <list type="bullet">
    /// <item><c>bdl,dn->bdln</c> (deltaA): two operands, nothing summed → cost B·D·L·N.</item>
    /// <item><c>bdl,bnl,bdl->bdln</c> (deltaB_u): the output holds every index, so numpy keeps the single
    /// three-operand contraction (no path search): op factor 2 → cost 2·B·D·L·N.</item>
    /// <item>per step (×L): <c>B·D·N</c> for the state update plus <c>bdn,bdn->bd</c>: n summed → op factor 2 →
    /// cost 2·B·D·N.</item>
    /// <item>D skip and z gate: B·D·L each.</item>
    /// </list>
    /// Each einsum cost goes through numpy's printout as it did then: <c>opt_cost = cost + 1</c> printed with
    /// <c>%.3e</c>, parsed back, halved (MACs) and floored.
    /// </summary>
    public static long Flops(long batch, long length, long channels, long states, bool withD = true, bool withZ = false)
    {
        long b = batch, l = length, d = channels, n = states;
        long flops = Einsum(b * d * l * n) + Einsum(2 * b * d * l * n);
        flops += l * (b * d * n + Einsum(2 * b * d * n));
        if (withD) flops += b * d * l;
        if (withZ) flops += b * d * l;
        return flops;
    }

    /// <summary><c>floor(float(f"{cost + 1:.3e}") / 2)</c>: numpy einsum_path's "Optimized FLOP count" line, as MACs.</summary>
    public static long Einsum(long cost)
    {
        string printed = (cost + 1.0).ToString("0.000e+00", CultureInfo.InvariantCulture);
        return (long)Math.Floor(double.Parse(printed, CultureInfo.InvariantCulture) / 2);
    }
}
