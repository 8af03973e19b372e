using TorchSharp;
using VisionSsm.Analysis;
using VisionSsm.Detection.Inference;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Training;

/// <summary>
/// A <see cref="DetectionZoo"/> Mask R-CNN as a benchmark workload (<c>vssm bench</c>). A point of size H×W is an image
/// already at the test scale, zero-padded at the bottom and right to a multiple of <see cref="SizeDivisor"/> as
/// <see cref="Data.DetectionBatch.Collate"/> pads it (800×1333 runs as 800×1344, mmdet's 1× test scale).
/// <para>Inference is what <c>vssm detect predict</c> runs per batch: <see cref="IDetector.Predict"/> in eval mode
/// (backbone, FPN, RPN proposals, box head, class-wise NMS, mask head, mask paste at the image size) and the copy of
/// the detections to the host (<see cref="DetectionList.From"/>). A freshly initialised box classifier gives every class
/// a score of about 1/(K + 1), under the 0.05 threshold, which would skip the mask head and the paste; so the bench
/// model's classifier favours <see cref="KeptClasses"/> classes through its bias (score ≈ 0.3 each, the rest ≈ 0.005):
/// every proposal yields that many candidates for NMS and each image keeps the configured maximum of detections
/// (100 for the COCO variants), the cost of a busy image.</para>
/// <para>The training loss is the trainer's: the sum of <see cref="IDetector.Losses"/> (RPN, box and mask losses)
/// against <see cref="ObjectsPerImage"/> random boxes per image, each with a random label and a filled-box mask. The
/// model is built with its recipe's drop path, for the padded larger side (only fixed-size backbones care).</para>
/// </summary>
public sealed class DetectionBenchWorkload : IBenchWorkload
{
    /// <summary>The padding multiple of the batch (FPN's five levels), as the trainer and predictor collate.</summary>
    public const int SizeDivisor = 32;

    /// <summary>Synthetic ground-truth objects per training image.</summary>
    public const int ObjectsPerImage = 4;

    /// <summary>Classes the bench model's box classifier scores above the threshold on every proposal.</summary>
    public const int KeptClasses = 2;

    /// <summary>The classifier bias of the kept classes: score e^4 / (2·e^4 + 79) ≈ 0.29 for COCO's 80 classes (the other 78 classes' and the background's logits near 0).</summary>
    const double KeptBias = 4.0;

    readonly DetectionEntry entry;

    /// <param name="model">a <see cref="DetectionZoo"/> name (unknown: <see cref="ArgumentException"/> listing the known ones)</param>
    /// <param name="numClasses">object classes (COCO's 80 by default)</param>
    public DetectionBenchWorkload(string model, int numClasses = 80)
    {
        entry = DetectionZoo.Get(model);
        if (numClasses < KeptClasses) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, $"expected ≥ {KeptClasses}.");
        NumClasses = numClasses;
    }

    public string Model => entry.Name;
    public int DefaultImageSize => entry.ImageSize;
    public int NumClasses { get; }

    public nn.Module Build(BenchSize size, int inChannels, Device? device)
    {
        int side = Math.Max(RoundUp(size.Height), RoundUp(size.Width));
        var net = entry.Create(new ModelOptions(NumClasses, inChannels, side, Device: device));
        try
        {
            var bias = net.named_parameters().Single(p => p.name == "roi_head.bbox_head.fc_cls.bias").parameter;
            using var _ = no_grad();
            using var kept = KeptBias.ToScalar();
            bias.narrow(0, 0, KeptClasses).fill_(kept);
        }
        catch
        {
            net.Dispose();
            throw;
        }
        return net;
    }

    public void Infer(nn.Module model, Tensor images)
    {
        var detector = (IDetector)model;
        using var scope = NewDisposeScope();
        var (padded, metas) = Collate(images);
        var dets = detector.Predict(padded, metas);
        for (int i = 0; i < dets.Count; i++) DetectionList.From(dets[i], metas[i].OriginalHeight, metas[i].OriginalWidth);
    }

    public Func<Tensor> TrainingLoss(nn.Module model, Tensor images)
    {
        var detector = (IDetector)model;
        var (padded, metas) = Collate(images);
        var targets = metas.Select((m, i) => Targets(m.Height, m.Width, new Random(i), images.device)).ToList();
        return () =>
        {
            using var scope = NewDisposeScope();
            Tensor? total = null;
            foreach (var loss in detector.Losses(padded, metas, targets).Values) total = total is null ? loss : total.Plus(loss);
            return (total ?? throw new InvalidOperationException($"detector '{Model}' returned no losses.")).MoveToOuterDisposeScope();
        };
    }

    /// <summary>The batch zero-padded to <see cref="SizeDivisor"/> and each image's meta (valid region = original = the input).</summary>
    static (Tensor Images, IReadOnlyList<ImageMeta> Metas) Collate(Tensor images)
    {
        int b = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        var padded = nn.functional.pad(images, [0, RoundUp(w) - w, 0, RoundUp(h) - h]);
        return (padded, Enumerable.Range(0, b).Select(_ => new ImageMeta(h, w, h, w)).ToList());
    }

    /// <summary><see cref="ObjectsPerImage"/> boxes of 1/8 to 1/2 of each side (at least 4 px) inside the valid region, random labels, filled-box masks.</summary>
    DetectionTarget Targets(int height, int width, Random random, Device device)
    {
        int n = ObjectsPerImage;
        var boxes = new float[4 * n];
        var labels = new long[n];
        var masks = zeros([n, height, width], ScalarType.Byte, device);
        for (int i = 0; i < n; i++)
        {
            int bw = Math.Min(width, Math.Max(4, random.Next(width / 8, width / 2 + 1)));
            int bh = Math.Min(height, Math.Max(4, random.Next(height / 8, height / 2 + 1)));
            int x1 = random.Next(0, width - bw + 1), y1 = random.Next(0, height - bh + 1);
            (boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]) = (x1, y1, x1 + bw, y1 + bh);
            labels[i] = random.Next(NumClasses);
            masks[i].narrow(0, y1, bh).narrow(1, x1, bw).fill_(Scalars.One);
        }
        return new DetectionTarget(tensor(boxes, [n, 4], device: device), tensor(labels, [n], device: device), masks);
    }

    static int RoundUp(int v) => (v + SizeDivisor - 1) / SizeDivisor * SizeDivisor;
}
