using VisionSsm.Models;

namespace VisionSsm.Training;

/// <summary>A model ready for inference with the class labels and the preprocessing its inputs need.</summary>
/// <param name="Info">The training checkpoint's record; null for an official weights file.</param>
public sealed record InferenceModel(VisionModel Net, string ModelName, IReadOnlyList<string> Classes, Preprocessing Preprocessing,
    CheckpointInfo? Info) : IDisposable
{
    public void Dispose() => Net.Dispose();
}
