using TorchSharp;
using VisionSsm.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>One predicted label with its softmax probability.</summary>
public sealed record Prediction(int ClassIndex, string Label, double Probability);

/// <summary>
/// Top-k predictions from a checkpoint (timm inference.py): the checkpoint records the model name, class names and
/// preprocessing, so an image only needs decoding; it is converted to the model's channels, resized (shorter side)
/// and center-cropped to the model's size, and normalised.
/// </summary>
public sealed class Predictor : IDisposable
{
    readonly Module<Tensor, Tensor> net;
    readonly ISampleTransform transform;

    public CheckpointInfo Info { get; }

    public Predictor(Checkpoint checkpoint, string? modelName = null, bool ema = false, Device? device = null)
    {
        Info = checkpoint.Info;
        net = CheckpointModel.Build(checkpoint, modelName, ema, device);
        transform = Info.Preprocessing.EvalTransform();
        Device = device ?? CPU;
    }

    public Device Device { get; }

    public IReadOnlyList<Prediction> Predict(ImageSample image, int topK = 5)
    {
        if (topK < 1) throw new ArgumentOutOfRangeException(nameof(topK), topK, "expected ≥ 1");
        var s = transform.Apply(image, new Random(0));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = tensor(s.Pixels, [1, s.Channels, s.Height, s.Width]).to(Device);
        var probs = functional.softmax(net.forward(x), 1)[0].cpu();
        var (values, indexes) = probs.topk(Math.Min(topK, Info.Classes.Count));
        var v = values.data<float>().ToArray();
        var i = indexes.data<long>().ToArray();
        return v.Select((p, k) => new Prediction((int)i[k], Info.Classes[(int)i[k]], p)).ToList();
    }

    public void Dispose() => net.Dispose();
}
