using System.Globalization;

namespace VisionSsm.Analysis;

/// <summary>
/// An input size of a benchmark point: <see cref="Height"/>×<see cref="Width"/> pixels. Written <c>N</c> when square
/// (224) and <c>HxW</c> otherwise (512x2048, the ADE20K test scale; 800x1333, COCO's), the form <see cref="Parse"/> reads.
/// </summary>
public readonly record struct BenchSize(int Height, int Width)
{
    public BenchSize(int side) : this(side, side) { }

    public bool IsSquare => Height == Width;

    /// <summary>The side of the square with the same pixel count (where the log–log plot places the point).</summary>
    public double EquivalentSide => Math.Sqrt((double)Height * Width);

    public long Pixels => (long)Height * Width;

    public override string ToString() => IsSquare
        ? Height.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Height}x{Width}");

    /// <summary>Reads <c>N</c> or <c>HxW</c> (also <c>H×W</c>), both sides ≥ 1; null when <paramref name="text"/> is neither.</summary>
    public static BenchSize? TryParse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().Split(['x', 'X', '×']);
        if (parts.Length is < 1 or > 2) return null;
        var sides = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out sides[i]) || sides[i] < 1) return null;
        return sides.Length == 1 ? new BenchSize(sides[0]) : new BenchSize(sides[0], sides[1]);
    }

    /// <summary>
    /// Comma-separated sizes, e.g. <c>512,512x2048</c>; duplicates dropped, order kept. A bad entry is an
    /// <see cref="ArgumentException"/> naming <paramref name="option"/> and the expected form.
    /// </summary>
    public static IReadOnlyList<BenchSize> ParseList(string text, string option = "--sizes")
    {
        ArgumentNullException.ThrowIfNull(text);
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var result = new List<BenchSize>();
        foreach (var item in items)
        {
            var size = TryParse(item) ?? throw new ArgumentException(
                $"{option} '{text}': '{item}' is not a size; expected N (a square side) or HxW (height x width), positive integers, comma-separated, e.g. 512,512x2048.",
                option.TrimStart('-'));
            if (!result.Contains(size)) result.Add(size);
        }
        if (result.Count == 0)
            throw new ArgumentException($"{option} '{text}': expected at least one size, N or HxW, e.g. 224 or 512x2048.", option.TrimStart('-'));
        return result;
    }
}
