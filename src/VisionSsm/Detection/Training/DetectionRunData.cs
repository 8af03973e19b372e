using VisionSsm.Data;
using VisionSsm.Detection.Data;
using VisionSsm.Segmentation.Training;
using ZooPreprocessing = VisionSsm.Models.Preprocessing;

namespace VisionSsm.Detection.Training;

/// <summary>The splits of a detection run, its class names, image channels and normalisation statistics.</summary>
public sealed record DetectionData(CocoImageDataset Train, CocoImageDataset Test, IReadOnlyList<string> Classes, int Channels, float[] Mean, float[] Std);

/// <summary>
/// Opens the data a <see cref="DetectionTrainConfig"/> names: a COCO folder (<see cref="CocoFolder"/>), or when
/// <c>Data</c> is null the Fashion-MNIST detection canvases, written once to <c>CanvasDirectory</c> as a COCO folder
/// and read back through the same reader. Statistics: ImageNet's for 3-channel images (mmdet's data preprocessor),
/// measured over the first 256 training images otherwise.
/// </summary>
public static class DetectionRunData
{
    public static DetectionData Open(DetectionTrainConfig config, float[]? mean = null, float[]? std = null, Action<string>? log = null)
    {
        string root = config.DataRoot();
        if (config.Data is null)
        {
            DetectionCanvasWriter.Write(root, config.CanvasOptions(), log: log);
        }
        var (train, test) = CocoFolder.Open(root, config.BoxPolicy);
        if (train.Count < config.BatchSize)
            throw new ArgumentException($"--batch-size {config.BatchSize} is larger than the training set ({train.Count} images with objects).", "batch-size");
        if (mean is null || std is null)
            (mean, std) = train.Channels == 3 ? (ZooPreprocessing.ImageNetMean, ZooPreprocessing.ImageNetStd)
                : SegmentationRunData.Measure(train.Count, i => train.Get(i).Pixels, train.Channels);
        return new DetectionData(train, test, train.Classes, train.Channels, mean, std);
    }
}
