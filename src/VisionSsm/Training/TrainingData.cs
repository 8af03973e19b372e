using VisionSsm.Data;

namespace VisionSsm.Training;

/// <summary>
/// The data of a run: train and test sets, their sample transforms (which end with normalisation), the batch
/// transform (Mixup/CutMix, soft targets) and the preprocessing the model expects (stored in checkpoints).
/// </summary>
public sealed record TrainingData(
    IImageDataset Train, IImageDataset Test, Preprocessing Preprocessing,
    ISampleTransform? TrainTransform, ISampleTransform? EvalTransform, IBatchTransform? BatchTransform = null)
{
    public IReadOnlyList<string> Classes => Train.Classes;
}
