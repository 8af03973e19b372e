using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Detection.Models;
using VisionSsm.Detection.Training;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Training;

/// <summary>
/// A tiny stand-in detector for the task code's tests: a strided conv, global pooling and one linear layer regress a
/// fixed number of boxes (sigmoid of the valid image size) with class logits. Training matches slot k to ground-truth
/// box k (L1 on normalised corners, cross entropy on the label); prediction returns every slot, its mask the box.
/// </summary>
sealed class FakeDetector : nn.Module, IDetector
{
    public const string Name = "test_fake_detector";
    const int Slots = 3;
    readonly Conv2d conv;
    readonly Linear head;

    public FakeDetector(ModelOptions o) : base(Name)
    {
        NumClasses = o.NumClasses;
        conv = nn.Conv2d(o.InChannels, 8, 3, stride: 4, padding: 1);
        head = nn.Linear(8, Slots * (4 + NumClasses));
        RegisterComponents();
        if (o.Device is { } d) this.to(d);
    }

    public static void Register() => DetectorFactory.Register(Name, o => new FakeDetector(o));

    public int NumClasses { get; }
    public bool PredictsMasks => true;
    public nn.Module Module => this;

    Tensor Raw(Tensor images) => head.forward(nn.functional.relu(conv.forward(images)).mean([2, 3])).view(-1, Slots, 4 + NumClasses);

    public IReadOnlyDictionary<string, Tensor> Losses(Tensor images, IReadOnlyList<ImageMeta> metas, IReadOnlyList<DetectionTarget> targets)
    {
        var raw = Raw(images);
        Tensor box = zeros(1), cls = zeros(1);
        for (int b = 0; b < metas.Count; b++)
        {
            long n = Math.Min(Slots, targets[b].Boxes.shape[0]);
            if (n == 0) continue;
            using var size = tensor(new float[] { metas[b].Width, metas[b].Height, metas[b].Width, metas[b].Height });
            var goal = targets[b].Boxes[..(int)n].div(size);
            box = box.Plus(nn.functional.l1_loss(raw[b, ..(int)n, ..4].sigmoid(), goal));
            cls = cls.Plus(nn.functional.cross_entropy(raw[b, ..(int)n, 4..], targets[b].Labels[..(int)n]));
        }
        return new Dictionary<string, Tensor> { ["loss_bbox"] = box.Over(metas.Count), ["loss_cls"] = cls.Over(metas.Count) };
    }

    public IReadOnlyList<Detections> Predict(Tensor images, IReadOnlyList<ImageMeta> metas)
    {
        var raw = Raw(images);
        var result = new List<Detections>();
        for (int b = 0; b < metas.Count; b++)
        {
            var m = metas[b];
            using var size = tensor(new float[] { m.OriginalWidth, m.OriginalHeight, m.OriginalWidth, m.OriginalHeight });
            var corners = raw[b, .., ..4].sigmoid().mul(size);
            var (p1, p2) = (corners[.., ..2], corners[.., 2..]);
            var boxes = cat([minimum(p1, p2), maximum(p1, p2)], 1);   // a detector's boxes have x1 ≤ x2, y1 ≤ y2
            var (scores, labels) = raw[b, .., 4..].softmax(-1).max(-1);
            var ys = arange(m.OriginalHeight).view(1, -1, 1).to(float32);
            var xs = arange(m.OriginalWidth).view(1, 1, -1).to(float32);
            var bx = boxes.view(Slots, 4, 1, 1);
            var masks = xs.ge(bx[.., 0]).logical_and(xs.lt(bx[.., 2])).logical_and(ys.ge(bx[.., 1])).logical_and(ys.lt(bx[.., 3]));
            result.Add(new Detections(boxes, scores, labels, masks));
        }
        return result;
    }
}
