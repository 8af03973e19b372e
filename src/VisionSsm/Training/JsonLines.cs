using System.Text.Json;
using VisionSsm.Runtime;

namespace VisionSsm.Training;

/// <summary>JSON Lines files (one object per line; run folders' <c>metrics.jsonl</c>) in the runs' JSON conventions (<see cref="TrainConfig.Json"/>).</summary>
public static class JsonLines
{
    static readonly JsonSerializerOptions Options = new(TrainConfig.Json) { WriteIndented = false };

    /// <summary>The rows of <paramref name="path"/>; none when the file does not exist.</summary>
    public static IReadOnlyList<T> Read<T>(string path) =>
        File.Exists(path)
            ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<T>(l, Options)!).ToList()
            : [];

    /// <summary>Rewrites <paramref name="path"/> atomically with <paramref name="rows"/>.</summary>
    public static void Write<T>(string path, IEnumerable<T> rows) =>
        AtomicFile.WriteAllLines(path, rows.Select(r => JsonSerializer.Serialize(r, Options)));
}
