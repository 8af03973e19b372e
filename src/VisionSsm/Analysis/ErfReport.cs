using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// What <see cref="ErfReport.Run"/> computes: the ERF of each model (rows) from each checkpoint (columns:
/// <see cref="AnalysisSubject.RandomInit"/> or a file path, where <c>{model}</c> stands for the row's model name), at
/// <see cref="Size"/> (null = each checkpoint's or zoo entry's), averaged over <see cref="Count"/> inputs.
/// </summary>
public sealed record ErfRequest(IReadOnlyList<string> Models, IReadOnlyList<string> Checkpoints, AnalysisInputs Inputs, int Count = 8,
    int? Size = null, ErfGradient Gradient = ErfGradient.Relu, Device? Device = null, int Seed = 0);

/// <summary>
/// One model × checkpoint (the figure's row and column): inputs ("noise" or "images"), the area ratios (RepLKNet's, on
/// the log-scaled map; and on the raw map) and where the map went.
/// </summary>
public sealed record ErfEntry(string Model, string Column, string Checkpoint, int Size, string Inputs, int Images, int Skipped, double Seconds,
    IReadOnlyList<AreaRatio> AreaRatios, IReadOnlyList<AreaRatio> RawAreaRatios, string MapFile);

/// <summary>
/// Runs an <see cref="ErfRequest"/> and writes to a folder: <c>erf.png</c> (the grid), <c>erf.json</c> (the entries)
/// and one <c>erf-{model}-{column}.npy</c> per cell (the averaged map, float64 (H, W)).
/// </summary>
public static class ErfReport
{
    public static IReadOnlyList<ErfEntry> Run(ErfRequest request, string outputDirectory, Action<string>? log = null,
        Action<string, int, int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Models.Count == 0) throw new ArgumentException("--models: name at least one model.", "models");
        if (request.Checkpoints.Count == 0) throw new ArgumentException("--checkpoint: give at least one column.", "checkpoint");
        if (request.Count < 1) throw new ArgumentException($"--count {request.Count}: expected ≥ 1.", "count");
        foreach (var m in request.Models) Models.ModelZoo.Get(m);           // unknown names fail before any work
        if (!request.Inputs.IsNoise) request.Inputs.Load(request.Count);    // so does an image that does not decode
        Directory.CreateDirectory(outputDirectory);
        var entries = new List<ErfEntry>();
        var cells = new List<ErfCell>();
        var columnNames = ColumnNames(request.Checkpoints);
        for (int r = 0; r < request.Models.Count; r++)
            for (int c = 0; c < request.Checkpoints.Count; c++)
            {
                cancel.ThrowIfCancellationRequested();
                string model = request.Models[r];
                string checkpoint = request.Checkpoints[c].Replace("{model}", model, StringComparison.Ordinal);
                var clock = Stopwatch.StartNew();
                using var subject = AnalysisSubject.Open(model, checkpoint, request.Size, request.Device, seed: request.Seed);
                string label = $"{model} [{columnNames[c]}]";
                log?.Invoke($"{label}: {subject.Channels}×{subject.Size}×{subject.Size}, {(request.Inputs.IsNoise ? "noise" : "images")}, {request.Count} input(s)");
                var map = EffectiveReceptiveField.Compute(subject.Net,
                    request.Inputs.Tensors(request.Count, subject.Preprocessing, subject.Dtype, request.Device, request.Seed),
                    request.Gradient, done => progress?.Invoke(label, done, request.Count), cancel);
                var ratios = EffectiveReceptiveField.AreaRatios(EffectiveReceptiveField.LogScaled(map.Values), map.Height, map.Width);
                var raw = EffectiveReceptiveField.AreaRatios(map.Values, map.Height, map.Width);
                string file = $"erf-{model}-{Safe(columnNames[c])}.npy";
                NpyFile.Write(Path.Combine(outputDirectory, file), map.Values, map.Height, map.Width);
                var entry = new ErfEntry(model, columnNames[c], subject.Source, subject.Size, request.Inputs.IsNoise ? "noise" : "images",
                    map.Images, map.Skipped, clock.Elapsed.TotalSeconds, ratios, raw, file);
                entries.Add(entry);
                cells.Add(new ErfCell(model, columnNames[c], map, Caption(ratios)));
                log?.Invoke($"{label}: {Summary(entry)} ({entry.Seconds:F1} s)");
            }
        HeatmapFigure.SaveErfGrid(cells, Path.Combine(outputDirectory, "erf.png"), Title(entries));
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "erf.json"), JsonSerializer.Serialize(entries, JsonOptions));
        return entries;
    }

    /// <summary>Draws <c>erf.png</c> again from a report folder's <c>erf.json</c> and maps (no recomputation).</summary>
    public static IReadOnlyList<ErfEntry> Redraw(string directory)
    {
        string json = Path.Combine(directory, "erf.json");
        if (!File.Exists(json)) throw new FileNotFoundException($"--replot: '{json}' does not exist (expected a folder written by vssm erf).", json);
        var entries = JsonSerializer.Deserialize<List<ErfEntry>>(File.ReadAllText(json), JsonOptions)
                      ?? throw new InvalidDataException($"--replot: '{json}' holds no entries.");
        if (entries.Count == 0) throw new InvalidDataException($"--replot: '{json}' holds no entries.");
        var cells = entries.Select(e =>
        {
            var (values, shape) = NpyFile.Read(Path.Combine(directory, e.MapFile));
            if (shape.Length != 2) throw new InvalidDataException($"--replot: '{e.MapFile}' is not a 2-D map.");
            return new ErfCell(e.Model, e.Column, new ErfMap(values, shape[0], shape[1], e.Images, e.Skipped), Caption(e.AreaRatios));
        }).ToList();
        HeatmapFigure.SaveErfGrid(cells, Path.Combine(directory, "erf.png"), Title(entries));
        return entries;
    }

    static string Title(IReadOnlyList<ErfEntry> entries)
    {
        var sizes = entries.Select(e => e.Size).Distinct().ToList();
        string size = sizes.Count == 1 ? $"{sizes[0]}²" : "sizes " + string.Join("/", sizes);
        var inputs = entries.Select(e => $"{e.Inputs} ×{e.Images + e.Skipped}").Distinct();
        return $"Effective receptive field, {size}, {string.Join(", ", inputs)} (log scale)";
    }

    /// <summary>"20%: 0.012 30%: … 99%: …" (RepLKNet's area ratios).</summary>
    public static string Summary(ErfEntry e) =>
        "area ratio " + string.Join("  ", e.AreaRatios.Select(r => $"{r.Threshold * 100:0}%: {HeatmapFigure.Format(r)}"));

    static string Caption(IReadOnlyList<AreaRatio> ratios) =>
        string.Join("  ", ratios.Take(2).Select(r => $"{r.Threshold * 100:0}%: {HeatmapFigure.Format(r)}")) + "\n" +
        string.Join("  ", ratios.Skip(2).Select(r => $"{r.Threshold * 100:0}%: {HeatmapFigure.Format(r)}"));

    /// <summary>Column titles: "random init" for init, else the file name; two columns of files read "before" and "after" too.</summary>
    static List<string> ColumnNames(IReadOnlyList<string> checkpoints)
    {
        var names = checkpoints.Select(c => c == AnalysisSubject.RandomInit ? "random init" : Path.GetFileName(c)).ToList();
        if (checkpoints.Count == 2)
            names = [$"before: {names[0]}", $"after: {names[1]}"];
        // Distinct titles keep cells apart even when two columns name the same file.
        for (int i = 0; i < names.Count; i++)
            if (names.Take(i).Contains(names[i])) names[i] += $" ({i + 1})";
        return names;
    }

    static string Safe(string name) =>
        new(name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_').ToArray());

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
