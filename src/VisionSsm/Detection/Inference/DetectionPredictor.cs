using VisionSsm.Data;
using VisionSsm.Detection.Data;
using VisionSsm.Detection.Data.Transforms;
using VisionSsm.Detection.Models;
using VisionSsm.Detection.Training;
using VisionSsm.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Inference;

/// <summary>A detector ready for inference with what its checkpoint records: classes, channels, normalisation and test scale.</summary>
public sealed record DetectionInferenceModel(IDetector Detector, string Name, IReadOnlyList<string> Classes, int Channels, float[] Mean, float[] Std,
    DetectionPipeline Pipeline, int SizeDivisor, Device? Device) : IDisposable
{
    /// <summary>Detections of one decoded image (any size; it is resized to the test scale and back).</summary>
    public DetectionList Detect(ImageSample image)
    {
        if (image.Channels != Channels)
            throw new ArgumentException($"the image has {image.Channels} channels; {Name} was trained on {Channels}.", nameof(image));
        var sample = new DetectionSample(image.Pixels, image.Channels, image.Height, image.Width, [], [], null, [], image.Height, image.Width, 0);
        bool wasTraining = Detector.Module.training;
        Detector.Module.eval();
        try
        {
            using var _ = no_grad();
            return DetectionEvaluation.Predict(Detector, [Pipeline.Test(sample)], Mean, Std, SizeDivisor, Device)[0].Detections;
        }
        finally { if (wasTraining) Detector.Module.train(); }
    }

    /// <summary>Decodes <paramref name="path"/> in the model's channels and detects.</summary>
    public (ImageSample Image, DetectionList Detections) Detect(string path)
    {
        var image = ImageDecoder.Decode(path, channels: Channels);
        return (image, Detect(image));
    }

    public void Dispose() => Detector.Module.Dispose();
}

/// <summary>Opens detection checkpoints for <c>vssm detect eval|predict</c>.</summary>
public static class DetectionPredictor
{
    /// <summary>A VisionSsm detection checkpoint (<c>.ckpt</c> written by <see cref="DetectionTrainer"/>).</summary>
    public static DetectionInferenceModel Open(string path, Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var ckpt = Checkpoint.Load(path);
        var config = DetectionTrainer.ConfigOf(ckpt, path);
        var info = ckpt.Info;
        var detector = DetectorFactory.Create(info.ModelName,
            new ModelOptions(info.Classes.Count, info.Preprocessing.Channels, config.ScaleShort.Max(), Device: device));
        Checkpoint.LoadInto(detector.Module, ckpt.Model);
        detector.Module.eval();
        return new DetectionInferenceModel(detector, info.ModelName, info.Classes, info.Preprocessing.Channels, info.Preprocessing.Mean,
            info.Preprocessing.Std, config.Pipeline(), config.SizeDivisor, device);
    }
}
