using VisionSsm.Data;

namespace VisionSsm.Training;

/// <summary>The data of a run: train and test sets, their sample transforms, the batch transform (Mixup/CutMix) and the preprocessing.</summary>
public sealed record TrainingData(
    IImageDataset Train, IImageDataset Test, Preprocessing Preprocessing,
    IReadOnlyList<ISampleTransform> TrainTransforms, IReadOnlyList<ISampleTransform> EvalTransforms,
    IBatchTransform? BatchTransform = null)
{
    public IReadOnlyList<string> Classes => Train.Classes;
}
