using System.Text.RegularExpressions;

namespace VisionSsm.Tests;

/// <summary>
/// Dependencies of the library point one way: Runtime → Ops → Layers → Models → (Data, Training, Analysis, Interop) → Export.
/// A file may name its own layer and the layers below it, never one above (usings, qualified names, cref comments).
/// </summary>
public static partial class Layering
{
    /// <summary>Rank of each top-level folder / namespace of src/VisionSsm; equal ranks may use each other.</summary>
    public static readonly IReadOnlyDictionary<string, int> Ranks = new Dictionary<string, int>
    {
        ["Runtime"] = 0, ["Ops"] = 1, ["Layers"] = 2, ["Models"] = 3,
        ["Data"] = 4, ["Training"] = 4, ["Analysis"] = 4, ["Interop"] = 4,
        ["Segmentation"] = 5,
        ["Export"] = 5,
        ["Detection"] = 5,
    };

    // "VisionSsm.Models", "Models.FlopConvention" (resolved against the VisionSsm namespace), in code or comments.
    [GeneratedRegex(@"(?<![\w.])(?:VisionSsm\.(?<ns>[A-Z]\w*)\b|(?<ns>[A-Z]\w*)\.[A-Z])")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^\s*namespace\s+VisionSsm\.(?<ns>\w+)", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    /// <summary>Each reference in <paramref name="source"/> (a file of folder <paramref name="folder"/>) to a layer above it.</summary>
    public static IEnumerable<string> Violations(string folder, string source)
    {
        if (!Ranks.TryGetValue(folder, out int rank)) { yield return $"folder {folder} has no layer"; yield break; }
        foreach (Match m in Namespace().Matches(source))
            if (m.Groups["ns"].Value != folder) yield return $"namespace VisionSsm.{m.Groups["ns"].Value} in folder {folder}";
        var lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
            foreach (Match m in Reference().Matches(lines[i]))
                if (Ranks.TryGetValue(m.Groups["ns"].Value, out int other) && other > rank)
                    yield return $"line {i + 1}: {folder} → {m.Groups["ns"].Value}: {lines[i].Trim()}";
    }

    public static string SourceRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var src = Path.Combine(dir.FullName, "src", "VisionSsm");
            if (File.Exists(Path.Combine(src, "VisionSsm.csproj"))) return src;
        }
        throw new DirectoryNotFoundException("src/VisionSsm not found above the test binaries");
    }
}

public class LayeringTests
{
    [Fact]
    public void NoFileReferencesALayerAboveItsOwn()
    {
        var root = Layering.SourceRoot();
        var files = Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")).ToList();
        Assert.True(files.Count > 50, $"only {files.Count} files under {root}");
        var violations = files.SelectMany(f =>
        {
            var folder = Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar)[0];
            return Layering.Violations(folder, File.ReadAllText(f)).Select(v => $"{Path.GetRelativePath(root, f)} {v}");
        }).ToList();
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void TheProjectFileAddsNoGlobalUsingsOfTheLibrary()
    {
        var csproj = File.ReadAllText(Path.Combine(Layering.SourceRoot(), "VisionSsm.csproj"));
        Assert.DoesNotContain("Using Include=\"VisionSsm", csproj);
    }

    [Theory]
    [InlineData("Ops", "using VisionSsm.Layers;\nnamespace VisionSsm.Ops;\n", 1)]
    [InlineData("Layers", "namespace VisionSsm.Layers;\nclass A { bool F => Analysis.FlopCounter.Current is null; }\n", 1)]
    [InlineData("Ops", "namespace VisionSsm.Ops;\n/// <summary>Used by <see cref=\"Layers.Mamba\"/>.</summary>\nclass A { }\n", 1)]
    [InlineData("Layers", "namespace VisionSsm.Layers;\nclass A { object F => VisionSsm.Models.ModelZoo.All; }\n", 1)]
    [InlineData("Runtime", "namespace VisionSsm.Ops;\n", 2)]
    [InlineData("Layers", "using VisionSsm.Ops;\nusing VisionSsm.Runtime;\nnamespace VisionSsm.Layers;\nclass A { long F => Ops.ScanArguments.X + x.Data.Length; }\n", 0)]
    [InlineData("Analysis", "using VisionSsm.Models;\nusing VisionSsm.Layers;\nnamespace VisionSsm.Analysis;\n", 0)]
    public void TheCheckerCatchesAReferenceUpward(string folder, string source, int expected)
    {
        var found = Layering.Violations(folder, source).ToList();
        Assert.True(found.Count == expected, $"expected {expected}, got: {string.Join("; ", found)}");
    }
}
