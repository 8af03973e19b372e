using System.Diagnostics;
using VisionSsm.Detection.Coco;
using VisionSsm.Detection.Data;
using VisionSsm.Detection.Data.Transforms;
using VisionSsm.Detection.Inference;
using VisionSsm.Detection.Models;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Training;

/// <summary>COCO box (and mask) metrics of a detector on a split, with the detections in COCO's results form.</summary>
public sealed record DetectionEvalResult(CocoEvalResult Box, CocoEvalResult? Mask, IReadOnlyList<CocoDetection> Detections, int Images, double Seconds)
{
    /// <summary>pycocotools' summary tables (bbox, then segm).</summary>
    public string Summary() => "bbox\n" + Box.Summary() + (Mask is null ? "" : "\nsegm\n" + Mask.Summary());
}

/// <summary>
/// Runs a detector over a COCO split (the test pipeline: keep-ratio resize, normalise, pad) and scores it with
/// <see cref="CocoEvaluator"/>, as mmdetection's <c>CocoMetric</c> does: boxes go out as (x, y, w, h) in the original
/// image's pixels, masks as RLE of the original size, category ids mapped back from contiguous labels; both the bbox
/// and the segm evaluation read the same results list (so unmatched detections take box areas, pycocotools' rule).
/// </summary>
public static class DetectionEvaluation
{
    public static DetectionEvalResult Evaluate(IDetector detector, CocoImageDataset data, DetectionPipeline pipeline, float[] mean, float[] std,
        int sizeDivisor = 32, int batchSize = 8, int limit = 0, Device? device = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        int n = limit > 0 ? Math.Min(limit, data.Count) : data.Count;
        var results = Detect(detector, data, pipeline, mean, std, sizeDivisor, batchSize, n, device, cancel);
        var gt = data.GroundTruth(n);
        var box = CocoEvaluator.Evaluate(gt, results, CocoIouType.Bbox);
        var mask = detector.PredictsMasks ? CocoEvaluator.Evaluate(gt, results, CocoIouType.Segm) : null;
        return new DetectionEvalResult(box, mask, results, n, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The detections of the first <paramref name="count"/> images of <paramref name="data"/> as COCO results.</summary>
    public static IReadOnlyList<CocoDetection> Detect(IDetector detector, CocoImageDataset data, DetectionPipeline pipeline, float[] mean, float[] std,
        int sizeDivisor, int batchSize, int count, Device? device = null, CancellationToken cancel = default)
    {
        var module = detector.Module;
        bool wasTraining = module.training;
        module.eval();
        var results = new List<CocoDetection>();
        try
        {
            using var _ = no_grad();
            for (int start = 0; start < count; start += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                var samples = new DetectionSample[Math.Min(batchSize, count - start)];
                Parallel.For(0, samples.Length, k => samples[k] = pipeline.Test(data.Get(start + k)));
                foreach (var (list, id) in Predict(detector, samples, mean, std, sizeDivisor, device))
                    results.AddRange(ToCoco(list, id, data.Coco));
            }
        }
        finally { if (wasTraining) module.train(); }
        return results;
    }

    /// <summary>One forward pass over prepared samples; detections per image in its original pixels.</summary>
    public static IReadOnlyList<(DetectionList Detections, long ImageId)> Predict(IDetector detector, IReadOnlyList<DetectionSample> samples, float[] mean,
        float[] std, int sizeDivisor, Device? device = null)
    {
        using var scope = NewDisposeScope();
        using var batch = DetectionBatch.Collate(samples, mean, std, sizeDivisor, device);
        var dets = detector.Predict(batch.Images, batch.Metas);
        if (dets.Count != samples.Count) throw new InvalidOperationException($"the detector returned {dets.Count} results for {samples.Count} images.");
        return dets.Select((d, i) => (DetectionList.From(d, samples[i].OriginalHeight, samples[i].OriginalWidth), samples[i].ImageId)).ToList();
    }

    /// <summary>Detections of image <paramref name="imageId"/> in COCO's results form (category ids from <paramref name="gt"/>'s labels).</summary>
    public static IEnumerable<CocoDetection> ToCoco(DetectionList d, long imageId, CocoDataset gt)
    {
        for (int i = 0; i < d.Count; i++)
        {
            long label = d.Labels[i];
            if (label < 0 || label >= gt.Categories.Count)
                throw new InvalidOperationException($"the detector predicted label {label}; the data has {gt.Categories.Count} classes.");
            double x1 = d.Boxes[4 * i], y1 = d.Boxes[4 * i + 1], w = d.Boxes[4 * i + 2] - x1, h = d.Boxes[4 * i + 3] - y1;
            var mask = d.Masks is { } m ? Rle.Encode(m[i], d.Height, d.Width) : null;
            yield return new CocoDetection(imageId, gt.Categories[(int)label].Id, d.Scores[i], [x1, y1, w, h], mask, w * h);
        }
    }
}
