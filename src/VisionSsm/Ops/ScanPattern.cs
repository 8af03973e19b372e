namespace VisionSsm.Ops;

/// <summary>
/// How SS2D unrolls a 2-D map into its four scan routes (VMamba §5.4 "Diagnostic Study on Selective Scan Patterns",
/// Figure 12, Table 5; official <c>forward_corev2</c> <c>scan_mode</c>). Every pattern keeps the four routes' parameters,
/// so parameter and FLOP counts are those of the cross-scan (docs/analysis.md "Scan patterns").
/// </summary>
public enum ScanPattern
{
    /// <summary>The cross-scan (CSM): row-major, column-major and both reversed (<c>cross2d</c>).</summary>
    Cross = 0,
    /// <summary>All four routes row-major from the upper-left corner (<c>unidi</c>).</summary>
    Unidirectional = 1,
    /// <summary>Routes 0, 1 row-major, routes 2, 3 row-major reversed (<c>bidi</c>).</summary>
    Bidirectional = 2,
    /// <summary>Routes 0, 1 scan every row forward and backward; their sum, layer-normalised, is scanned along every
    /// column forward and backward by routes 2, 3 (<c>cascade2d</c>).</summary>
    Cascade = 3,
}

/// <summary>Names of <see cref="ScanPattern"/> as the CLI and zoo suffixes spell them.</summary>
public static class ScanPatterns
{
    public static string Name(ScanPattern p) => p switch
    {
        ScanPattern.Cross => "cross",
        ScanPattern.Unidirectional => "unidi",
        ScanPattern.Bidirectional => "bidi",
        ScanPattern.Cascade => "cascade",
        _ => throw new ArgumentOutOfRangeException(nameof(p), p, "unknown scan pattern"),
    };

    public static IReadOnlyList<ScanPattern> All { get; } =
        [ScanPattern.Cross, ScanPattern.Unidirectional, ScanPattern.Bidirectional, ScanPattern.Cascade];

    /// <summary>Parses cross / unidi / bidi / cascade (case-insensitive); ArgumentException naming the choices otherwise.</summary>
    public static ScanPattern Parse(string text, string argumentName = "pattern")
    {
        foreach (var p in All)
            if (string.Equals(Name(p), text?.Trim(), StringComparison.OrdinalIgnoreCase)) return p;
        throw new ArgumentException($"unknown scan pattern '{text}'; expected one of {string.Join(", ", All.Select(Name))}.", argumentName);
    }
}
