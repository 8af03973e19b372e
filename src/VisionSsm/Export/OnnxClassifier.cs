using System.Text.Json;
using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Training;

namespace VisionSsm.Export;

/// <summary>
/// An exported classifier run in ONNX Runtime with the preprocessing it was exported with (recorded in the file's
/// metadata by <see cref="ModelExport"/>; a file without it needs the zoo name, whose preprocessing is then used):
/// the same transform and top-k as <see cref="Predictor"/>.
/// </summary>
public sealed class OnnxClassifier : IDisposable
{
    readonly OnnxRuntimeSession session;
    readonly ISampleTransform transform;

    public OnnxClassifier(string path, int threads, string? modelName = null)
    {
        session = new OnnxRuntimeSession(path, threads);
        try
        {
            var meta = session.Metadata;
            if (meta.TryGetValue(ModelExport.TaskKey, out var task) && task != "classification")
                throw new ArgumentException($"'{path}' is a {task} model ({meta.GetValueOrDefault(ModelExport.ModelKey, "?")}); " +
                                            "predict --onnx runs classifiers. Run it in ONNX Runtime directly: input (B, C, H, W), output logits (B, K, H, W).", "onnx");
            if (meta.TryGetValue(ModelExport.PreprocessingKey, out var pre) && meta.TryGetValue(ModelExport.ClassesKey, out var classes))
            {
                Preprocessing = JsonSerializer.Deserialize<Training.Preprocessing>(pre) ?? throw new InvalidDataException($"'{path}': empty preprocessing metadata.");
                Classes = JsonSerializer.Deserialize<List<string>>(classes) ?? [];
                ModelName = meta.GetValueOrDefault(ModelExport.ModelKey, modelName ?? "?");
            }
            else
            {
                if (modelName is null)
                    throw new ArgumentException($"'{path}' records no preprocessing (not written by vssm export): name its zoo model with --model.", "model");
                var entry = ModelZoo.Get(modelName);
                Preprocessing = Training.Preprocessing.FromZoo(entry.Preprocessing, entry.Preprocessing.Mean.Length);
                Classes = [];
                ModelName = entry.Name;
            }
            var shape = session.InputShape;
            if (shape.Length != 4 || (shape[0] > 1))
                throw new ArgumentException($"'{path}' takes input ({string.Join(", ", shape)}); prediction needs batch 1 or a dynamic batch " +
                                            "(vssm export --batch 1 or --dynamic-batch).", "onnx");
            Preprocessing = Preprocessing with { ImageSize = (int)shape[2], Channels = (int)shape[1] };
            transform = Preprocessing.EvalTransform();
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public string ModelName { get; }
    public Training.Preprocessing Preprocessing { get; }
    /// <summary>Class names; empty when the file records none (labels are then the indices).</summary>
    public IReadOnlyList<string> Classes { get; }

    public IReadOnlyList<Prediction> Predict(ImageSample image, int topK = 5)
    {
        if (topK < 1) throw new ArgumentOutOfRangeException(nameof(topK), topK, "expected ≥ 1");
        var s = transform.Apply(image, new Random(0));
        var (logits, _) = session.Run(s.Pixels, [1, s.Channels, s.Height, s.Width]);
        double max = logits.Max();
        var exp = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = exp.Sum();
        return exp.Select((e, i) => (P: e / sum, I: i)).OrderByDescending(t => t.P).Take(topK)
            .Select(t => new Prediction(t.I, t.I < Classes.Count ? Classes[t.I] : t.I.ToString(), t.P)).ToList();
    }

    public void Dispose() => session.Dispose();
}
