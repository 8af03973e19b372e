using System.Globalization;
using System.Text.Json;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>What <see cref="CamReport.Run"/> computes: CAMs of one model for up to <see cref="Count"/> images.</summary>
public sealed record CamRequest(string? Model, string? Checkpoint, AnalysisInputs Inputs, int Count = 1, int? Size = null,
    CamMethod Method = CamMethod.GradCam, int? ClassIndex = null, int? Level = null, Device? Device = null, int Seed = 0);

/// <summary>One image's CAM as <c>cam.json</c> records it (the raw map row-major on the level's grid).</summary>
public sealed record CamEntry(string Image, string Model, string Checkpoint, string Method, int Level, string LevelModule, int ClassIndex,
    string Label, double Logit, double Probability, int MapHeight, int MapWidth, double[] Map, string Figure, string MapFile);

/// <summary>
/// Runs a <see cref="CamRequest"/> and writes to a folder, per image: <c>{image}-{method}.png</c> (input | map |
/// overlay) and <c>{image}-{method}.npy</c> (the raw map on the level's grid), and <c>cam.json</c> for all images.
/// Noise inputs (no image source) are allowed, for a smoke test of a model.
/// </summary>
public static class CamReport
{
    public static IReadOnlyList<CamEntry> Run(CamRequest request, string outputDirectory, Action<string>? log = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Count < 1) throw new ArgumentException($"--count {request.Count}: expected ≥ 1.", "count");
        var images = request.Inputs.IsNoise ? null : request.Inputs.Load(request.Count);
        using var subject = AnalysisSubject.Open(request.Model, request.Checkpoint, request.Size, request.Device, seed: request.Seed);
        var info = subject.Net.FeatureInfo;
        if (request.Level is { } lv && (lv < 0 || lv >= info.Count))
            throw new ArgumentException($"--layer {lv}: model '{subject.ModelName}' has feature levels 0..{info.Count - 1} " +
                                        $"({string.Join(", ", info.Select(f => $"{f.Index}: {f.Module}"))}).", "layer");
        if (request.ClassIndex is { } k && (k < 0 || k >= subject.Net.NumClasses))
            throw new ArgumentException($"--class {k}: model '{subject.ModelName}' has classes 0..{subject.Net.NumClasses - 1}.", "class");
        Directory.CreateDirectory(outputDirectory);
        var names = images?.Select(i => i.Name).ToList() ?? Enumerable.Range(0, request.Count).Select(i => $"noise{i}").ToList();
        var entries = new List<CamEntry>();
        int n = 0;
        foreach (var input in request.Inputs.Tensors(request.Count, subject.Preprocessing, subject.Dtype, request.Device, request.Seed))
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            string name = Safe(names[n++]);
            var cam = ClassActivationMap.Compute(subject.Net, input, request.Method, request.ClassIndex, request.Level);
            string method = request.Method == CamMethod.GradCam ? "gradcam" : "hirescam";
            string label = cam.ClassIndex < subject.Classes.Count ? subject.Classes[cam.ClassIndex] : cam.ClassIndex.ToString(CultureInfo.InvariantCulture);
            string figure = $"{name}-{method}.png", mapFile = $"{name}-{method}.npy";
            var pixels = Denormalise(input, subject.Preprocessing);
            string caption = $"{subject.ModelName} ({(subject.Source == "random init" ? "random init" : Path.GetFileName(subject.Source))}), " +
                             $"{(request.Method == CamMethod.GradCam ? "Grad-CAM" : "HiResCAM")} at level {cam.Level} ({info[cam.Level].Module}), " +
                             $"class {cam.ClassIndex} '{label}' p={cam.Probability:F2}";
            HeatmapFigure.SaveCamPanel(pixels, subject.Channels, cam, Path.Combine(outputDirectory, figure), caption);
            NpyFile.Write(Path.Combine(outputDirectory, mapFile), cam.Map, cam.Height, cam.Width);
            var entry = new CamEntry(name, subject.ModelName, subject.Source, method, cam.Level, info[cam.Level].Module, cam.ClassIndex, label,
                cam.Logit, cam.Probability, cam.Height, cam.Width, cam.Map, figure, mapFile);
            entries.Add(entry);
            log?.Invoke($"{name}: class {cam.ClassIndex} '{label}' (p={cam.Probability:F3}), {cam.Height}×{cam.Width} map at level {cam.Level} → {figure}");
        }
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "cam.json"),
            JsonSerializer.Serialize(entries, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        return entries;
    }

    /// <summary>The model input back in [0, 1] pixel values (x · std + mean), channel-first.</summary>
    static float[] Denormalise(Tensor input, Training.Preprocessing p)
    {
        var x = input[0].to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        int c = (int)input.shape[1], hw = x.Length / c;
        for (int ch = 0; ch < c; ch++)
        {
            float mean = p.Mean[ch % p.Mean.Length], std = p.Std[ch % p.Std.Length];
            for (int i = 0; i < hw; i++) x[ch * hw + i] = x[ch * hw + i] * std + mean;
        }
        return x;
    }

    static string Safe(string name) =>
        new(name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_').ToArray());
}
