using VisionSsm.Detection.Coco;
using VisionSsm.Detection.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Data;
using VisionSsm.Tests.Segmentation.Data;

namespace VisionSsm.Tests.Detection.Data;

/// <summary>The detection canvases: determinism, instances against the ink, disjoint splits, the COCO files round trip.</summary>
public class DetectionCanvasTests
{
    // The fixture's items are rectangles of one value: train 77–140, test 166–229 (of 255), so a pixel tells its split.
    static readonly DetectionCanvasOptions Small = new()
    {
        Canvas = new CanvasOptions { Size = 64, MinItems = 2, MaxItems = 5, MinScale = 1, MaxScale = 1.5, TrainCount = 10, TestCount = 8 },
    };

    [Fact]
    public void Instances_are_deterministic_and_match_the_visible_ink()
    {
        using var dir = new TempDir();
        CanvasFixture.Write(dir.Path);
        var a = FashionMnistCanvas.Open(true, Small.Canvas, dir.Path);
        var b = FashionMnistCanvas.Open(true, Small.Canvas, dir.Path);
        int dropped = 0;
        for (int i = 0; i < a.Count; i++)
        {
            var (gray, instances) = DetectionCanvas.Compose(a, i, Small.MinVisibleFraction);
            var (gray2, instances2) = DetectionCanvas.Compose(b, i, Small.MinVisibleFraction);
            Assert.Equal(gray, gray2);
            Assert.Equal(instances.Count, instances2.Count);
            var seg = a.Get(i);   // the segmentation view of the same canvas: labels = class + 1 on ink
            var covered = new int[gray.Length];
            var items = a.Items(i);
            foreach (var (inst, k) in instances.Select((x, k) => (x, k)))
            {
                Assert.Equal(instances2[k].Mask, inst.Mask);
                int x1 = 64, y1 = 64, x2 = 0, y2 = 0, n = 0;
                for (int p = 0; p < gray.Length; p++)
                {
                    if (inst.Mask[p] == 0) continue;
                    Assert.True(gray[p] >= Small.Canvas.InkThreshold, "mask pixel without ink");
                    Assert.Equal(inst.ClassIndex + 1, seg.Mask[p]);
                    covered[p]++;
                    n++;
                    (x1, y1, x2, y2) = (Math.Min(x1, p % 64), Math.Min(y1, p / 64), Math.Max(x2, p % 64 + 1), Math.Max(y2, p / 64 + 1));
                }
                Assert.Equal((x1, y1, x2, y2), (inst.X1, inst.Y1, inst.X2, inst.Y2));   // tight box around the mask
                Assert.Equal(n, inst.Visible);
                Assert.True(inst.Visible >= Small.MinVisibleFraction * inst.Ink && inst.Visible <= inst.Ink);
            }
            Assert.All(covered, c => Assert.InRange(c, 0, 1));   // instance masks never overlap
            dropped += items.Count - instances.Count;
            // Every inked pixel belongs to an annotated instance unless its item was dropped as mostly hidden.
            if (items.Count == instances.Count)
                for (int p = 0; p < gray.Length; p++) Assert.Equal(gray[p] >= Small.Canvas.InkThreshold, covered[p] == 1);
        }
        Assert.True(dropped < a.Count, $"{dropped} items dropped on {a.Count} canvases");
    }

    [Fact]
    public void Written_coco_files_round_trip_and_splits_use_disjoint_sources()
    {
        using var dir = new TempDir();
        string fm = Path.Combine(dir.Path, "fm");
        Directory.CreateDirectory(fm);
        CanvasFixture.Write(fm);
        string root = Path.Combine(dir.Path, "det");
        Assert.True(DetectionCanvasWriter.Write(root, Small, fm));
        Assert.False(DetectionCanvasWriter.Write(root, Small, fm));   // same settings: left alone
        Assert.Throws<IOException>(() => DetectionCanvasWriter.Write(root, Small with { MinVisibleFraction = 0.5 }, fm));
        var (train, test) = CocoFolder.Open(root);
        Assert.Equal(FashionMnistCanvasClasses(), train.Classes);
        foreach (var (ds, isTrain) in new[] { (train, true), (test, false) })
        {
            var canvases = FashionMnistCanvas.Open(isTrain, Small.Canvas, fm);
            Assert.Equal(isTrain ? 10 : 8, ds.Coco.Images.Count);
            foreach (var image in ds.Coco.Images)
            {
                int i = (int)image.Id - 1;
                var (gray, instances) = DetectionCanvas.Compose(canvases, i, Small.MinVisibleFraction);
                var anns = ds.Coco.AnnotationsOf(image.Id);
                Assert.Equal(instances.Count, anns.Count);
                for (int k = 0; k < anns.Count; k++)
                {
                    var rle = anns[k].ToRle(image);
                    Assert.Equal(instances[k].Mask, rle.Decode());
                    Assert.Equal(rle.ToBbox(), anns[k].Bbox);
                    Assert.Equal(rle.Area(), anns[k].Area);
                    Assert.Equal(instances[k].ClassIndex, ds.Coco.LabelOf(anns[k].CategoryId));
                }
                // Pixels on disk (8-bit) are the canvas; the split's sources show in the values.
                var onDisk = VisionSsm.Data.ImageDecoder.Decode(Path.Combine(ds.ImageDirectory, image.FileName));
                // Train items are at most 140/255 (resampling only blends them towards 0); test items reach at least 166/255.
                for (int p = 0; p < gray.Length; p++)
                {
                    Assert.InRange(onDisk.Pixels[p], gray[p] - 0.5f / 255 - 1e-6f, gray[p] + 0.5f / 255 + 1e-6f);
                    if (isTrain) Assert.True(gray[p] <= 141 / 255f, $"pixel {p} of train {image.FileName} has a test-split value");
                }
                if (!isTrain) Assert.True(gray.Max() >= 166 / 255f, $"test {image.FileName} shows no test-split value");
            }
        }
    }

    static IReadOnlyList<string> FashionMnistCanvasClasses() => VisionSsm.Data.FashionMnist.ClassNames;
}
