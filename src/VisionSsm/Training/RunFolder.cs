using System.Globalization;
using System.Text.Json;
using VisionSsm.Runtime;

namespace VisionSsm.Training;

/// <summary>
/// A run's output folder (timm's <c>output/train/&lt;name&gt;</c>): <c>config.json</c>, <c>metrics.csv</c> and
/// <c>metrics.jsonl</c> (one row per epoch), <c>curves.png</c> (training curves), <c>last.ckpt</c> and <c>best.ckpt</c>.
/// </summary>
public sealed class RunFolder
{
    public string Path { get; }
    public string ConfigPath => System.IO.Path.Combine(Path, "config.json");
    public string MetricsCsvPath => System.IO.Path.Combine(Path, "metrics.csv");
    public string MetricsJsonlPath => System.IO.Path.Combine(Path, "metrics.jsonl");
    public string CurvesPath => System.IO.Path.Combine(Path, "curves.png");
    public string LastCheckpointPath => System.IO.Path.Combine(Path, "last.ckpt");
    public string BestCheckpointPath => System.IO.Path.Combine(Path, "best.ckpt");

    public RunFolder(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>A new folder under <paramref name="root"/> named by UTC time and model (e.g. <c>runs/20261122-191500-vmamba_nano</c>).</summary>
    public static RunFolder CreateNew(string root, string modelName)
    {
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string path = System.IO.Path.Combine(root, $"{stamp}-{modelName}");
        for (int i = 2; Directory.Exists(path); i++) path = System.IO.Path.Combine(root, $"{stamp}-{modelName}-{i}");
        var run = new RunFolder(path);
        Directory.CreateDirectory(run.Path);
        return run;
    }

    /// <summary>Opens an existing run folder (for --resume); <paramref name="path"/> may also be its last.ckpt.</summary>
    public static RunFolder OpenExisting(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path)) path = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var run = new RunFolder(path);
        if (!Directory.Exists(run.Path)) throw new DirectoryNotFoundException($"--resume: run folder '{path}' does not exist.");
        if (!File.Exists(run.LastCheckpointPath))
            throw new FileNotFoundException($"--resume: '{run.Path}' has no last.ckpt to resume from.", run.LastCheckpointPath);
        // A run killed while writing a checkpoint leaves its temp file (the checkpoint itself is intact: AtomicFile).
        AtomicFile.DeleteStaleTemps(run.Path);
        return run;
    }

    public void WriteConfig(TrainConfig config)
    {
        AtomicFile.WriteAllText(ConfigPath, config.ToJson());
    }

    /// <summary>Rewrites the metrics files with <paramref name="rows"/> (all epochs so far; a resumed run keeps its history).</summary>
    public void WriteMetrics(IReadOnlyList<EpochMetrics> rows)
    {
        // Atomic: --resume reads its history back from metrics.jsonl.
        AtomicFile.WriteAllLines(MetricsCsvPath, rows.Select(r => r.ToCsv()).Prepend(string.Join(",", EpochMetrics.Columns)));
        AtomicFile.WriteAllLines(MetricsJsonlPath, rows.Select(r => JsonSerializer.Serialize(r)));
    }

    /// <summary>Reads metrics.jsonl (empty when absent); a malformed line throws <see cref="InvalidDataException"/> naming the file and line.</summary>
    public IReadOnlyList<EpochMetrics> ReadMetrics()
    {
        if (!File.Exists(MetricsJsonlPath)) return [];
        var rows = new List<EpochMetrics>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(MetricsJsonlPath))
        {
            lineNumber++;
            if (line.Length == 0) continue;
            try
            {
                rows.Add(JsonSerializer.Deserialize<EpochMetrics>(line) ?? throw new InvalidDataException("the line is JSON null"));
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
            {
                throw new InvalidDataException($"{MetricsJsonlPath}: line {lineNumber} is not a metrics row: {e.Message}", e);
            }
        }
        return rows;
    }

    /// <summary>Reads config.json back; a malformed file throws <see cref="InvalidDataException"/> naming it.</summary>
    public TrainConfig ReadConfig()
    {
        if (!File.Exists(ConfigPath)) throw new FileNotFoundException($"run folder '{Path}' has no config.json.", ConfigPath);
        try
        {
            var config = TrainConfig.FromJson(File.ReadAllText(ConfigPath));
            return config.Model is null || config.Device is null ? throw new InvalidDataException("'model' and 'device' must not be null") : config;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidDataException or NotSupportedException)
        {
            throw new InvalidDataException($"{ConfigPath} is not a training config: {e.Message}", e);
        }
    }
}
