using TorchSharp;
using VisionSsm.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>One predicted label with its softmax probability.</summary>
public sealed record Prediction(int ClassIndex, string Label, double Probability);

/// <summary>
/// Top-k predictions (timm inference.py) from an <see cref="InferenceModel"/>: a VisionSsm checkpoint records the
/// model name, class names and preprocessing; an official weights file takes the zoo entry's preprocessing and
/// index labels. An image only needs decoding; it is converted to the model's channels, resized (shorter side)
/// and center-cropped to the model's size, and normalised.
/// </summary>
public sealed class Predictor : IDisposable
{
    readonly InferenceModel model;
    readonly ISampleTransform transform;

    public Predictor(InferenceModel model, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        this.model = model;
        transform = model.Preprocessing.EvalTransform();
        Device = device ?? CPU;
    }

    public Predictor(Checkpoint checkpoint, string? modelName = null, bool ema = false, Device? device = null)
        : this(new InferenceModel(CheckpointModel.Build(checkpoint, modelName, ema, device), modelName ?? checkpoint.Info.ModelName,
            checkpoint.Info.Classes, checkpoint.Info.Preprocessing, checkpoint.Info), device)
    {
    }

    /// <summary>The training checkpoint's record; null for an official weights file.</summary>
    public CheckpointInfo? Info => model.Info;
    public IReadOnlyList<string> Classes => model.Classes;
    public Preprocessing Preprocessing => model.Preprocessing;
    public Device Device { get; }

    public IReadOnlyList<Prediction> Predict(ImageSample image, int topK = 5)
    {
        if (topK < 1) throw new ArgumentOutOfRangeException(nameof(topK), topK, "expected ≥ 1");
        var s = transform.Apply(image, new Random(0));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var dtype = model.Net.parameters().First().dtype;
        var x = tensor(s.Pixels, [1, s.Channels, s.Height, s.Width]).to(dtype, Device);
        var probs = functional.softmax(model.Net.forward(x), 1)[0].to(ScalarType.Float32).cpu();
        var (values, indexes) = probs.topk(Math.Min(topK, Classes.Count));
        var v = values.data<float>().ToArray();
        var i = indexes.data<long>().ToArray();
        return v.Select((p, k) => new Prediction((int)i[k], Classes[(int)i[k]], p)).ToList();
    }

    public void Dispose() => model.Dispose();
}
