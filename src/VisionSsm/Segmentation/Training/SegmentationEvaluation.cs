using TorchSharp;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Metrics;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>The outcome of evaluating a model on a labelled split.</summary>
public sealed record SegmentationEvalResult(SegmentationScores Scores, ConfusionMatrix Confusion, long Images, double Seconds);

/// <summary>
/// Evaluates a segmentation model on a data set: each image normalised, its logits at full resolution from
/// <paramref name="predict"/> (whole image by default, <see cref="SegmentationModel.Predict"/>), argmax, and a confusion
/// matrix over the non-ignored pixels (mIoU, per-class IoU and accuracy, aAcc, mAcc).
/// </summary>
public static class SegmentationEvaluation
{
    /// <param name="predict">Normalised (B, C, H, W) → logits (B, K, H, W); null = whole-image <see cref="SegmentationModel.Predict"/>.</param>
    public static SegmentationEvalResult Evaluate(SegmentationModel model, ISegmentationDataset data, float[] mean, float[] std, int batchSize = 16,
        int limit = 0, Func<Tensor, Tensor>? predict = null, Device? device = null, CancellationToken cancel = default, Action<int, int>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool wasTraining = model.training;
        model.eval();
        predict ??= model.Predict;
        var confusion = new ConfusionMatrix(model.NumClasses);
        var collate = new SegmentationBatcher(data, new SegmentationTrainConfig { BatchSize = 1 }, 0, mean, std);
        int n = limit > 0 ? Math.Min(limit, data.Count) : data.Count;
        try
        {
            using var _ = no_grad();
            var pending = new List<SegmentationSample>();
            void Flush()
            {
                if (pending.Count == 0) return;
                using var scope = NewDisposeScope();
                using var batch = collate.Collate(pending, device);
                var pred = predict(batch.Images).argmax(1);
                confusion.Add(pred, batch.Masks);
                pending.Clear();
            }
            for (int i = 0; i < n; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var s = data.Get(i);
                if (pending.Count > 0 && (pending[0].Height != s.Height || pending[0].Width != s.Width || pending.Count == batchSize)) Flush();
                pending.Add(s);
                progress?.Invoke(i + 1, n);
            }
            Flush();
        }
        finally { if (wasTraining) model.train(); }
        return new SegmentationEvalResult(confusion.Compute(), confusion, n, clock.Elapsed.TotalSeconds);
    }
}
