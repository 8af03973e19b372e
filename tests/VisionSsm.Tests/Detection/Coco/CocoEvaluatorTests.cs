using System.Globalization;
using VisionSsm.Detection.Coco;

namespace VisionSsm.Tests.Detection.Coco;

public class CocoEvaluatorTests
{
    [Theory]
    [InlineData("bbox", "coco_dets.json")]
    [InlineData("segm", "coco_dets.json")]
    [InlineData("segm_masks_only", "coco_dets_segm_only.json")]
    public void Summary_numbers_match_pycocotools(string key, string detections)
    {
        var gt = CocoDataset.Load(CocoFixtures.Path("coco_gt.json"));
        var dets = CocoResults.Load(CocoFixtures.Path(detections), gt);
        var expected = CocoFixtures.Doubles(CocoFixtures.Json("coco_expected.json").GetProperty(key));
        var result = CocoEvaluator.Evaluate(gt, dets, key == "bbox" ? CocoIouType.Bbox : CocoIouType.Segm);
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(expected[i] - result.Stats[i]) < 1e-12,
                $"{key} {CocoEvalResult.StatNames[i]}: pycocotools {expected[i]}, ours {result.Stats[i]}\n{result.Summary()}");
    }

    [Fact]
    public void Box_iou_with_crowd_matches_pycocotools()
    {
        var s = CocoFixtures.Json("coco_expected.json").GetProperty("box_iou");
        var d = s.GetProperty("dets").EnumerateArray().Select(CocoFixtures.Doubles).ToArray();
        var g = s.GetProperty("gts").EnumerateArray().Select(CocoFixtures.Doubles).ToArray();
        var crowd = s.GetProperty("crowd").EnumerateArray().Select(c => c.GetBoolean()).ToArray();
        var iou = s.GetProperty("iou").EnumerateArray().Select(CocoFixtures.Doubles).ToArray();
        for (int i = 0; i < d.Length; i++)
            for (int j = 0; j < g.Length; j++)
                Assert.Equal(iou[i][j], CocoEvaluator.BoxIou(d[i], g[j], crowd[j]), 15);
    }

    const string OneObject = """
        {"images": [{"id": 1, "width": 100, "height": 80, "file_name": "a.png"}],
         "categories": [{"id": 5, "name": "thing"}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
                         {"id": 2, "image_id": 1, "category_id": 5, "bbox": [40, 20, 60, 60], "area": 3600, "iscrowd": 1}]}
        """;

    static string Dets(params (double[] Box, double Score)[] d) =>
        "[" + string.Join(",", d.Select(x => $"{{\"image_id\": 1, \"category_id\": 5, \"bbox\": [{string.Join(", ", x.Box.Select(v => v.ToString(CultureInfo.InvariantCulture)))}], \"score\": {x.Score.ToString(CultureInfo.InvariantCulture)}}}")) + "]";

    static CocoEvalResult Run(string detections)
    {
        var gt = CocoDataset.Parse(OneObject);
        return CocoEvaluator.Evaluate(gt, CocoResults.Parse(detections, gt), CocoIouType.Bbox);
    }

    [Fact]
    public void A_false_positive_ranked_first_halves_the_precision()
    {
        // Hit first, then a miss: precision 1 at recall 1 → AP 1. Miss first: precisions (0, 1/2), made monotone
        // (1/2, 1/2); every recall point reads 1/2 → AP 0.5. One object (the crowd region is ignored), recall 1.
        var hitFirst = Run(Dets(([0, 0, 10, 10], 0.9), ([0, 60, 10, 10], 0.8)));
        Assert.Equal(1.0, hitFirst["AP"], 12); // tp / (tp + fp + spacing(1)), as the reference
        var missFirst = Run(Dets(([0, 0, 10, 10], 0.8), ([0, 60, 10, 10], 0.9)));
        Assert.Equal(0.5, missFirst["AP"], 12);
        Assert.Equal(1.0, missFirst["AR100"], 12);
        Assert.Equal(0.0, missFirst["AR1"]); // the top-1 detection is the miss
        Assert.Equal(-1.0, missFirst["APm"]); // no medium ground truth (the crowd region is ignored everywhere)
        Assert.Equal(0.5, missFirst["APs"], 12);
    }

    [Fact]
    public void Detections_inside_a_crowd_region_are_neither_hits_nor_misses()
    {
        // Both extra detections lie inside the crowd box: IoU = intersection / area(detection) = 1, so they match it
        // and are ignored; AP stays 1. The partial-overlap box (IoU(crowd) = .5) still matches at IoU .50 only.
        var r = Run(Dets(([0, 0, 10, 10], 0.5), ([50, 30, 10, 10], 0.9), ([60, 40, 20, 20], 0.8)));
        Assert.Equal(1.0, r["AP"], 12);
        // A detection half outside the crowd region: at IoU ≥ .55 it is a false positive ranked first.
        var half = Run(Dets(([0, 0, 10, 10], 0.5), ([30, 20, 20, 10], 0.9)));
        Assert.Equal(1.0, half["AP50"], 12);
        Assert.Equal((1 + 9 * 0.5) / 10, half["AP"], 12);
    }

    [Fact]
    public void No_detections_give_zero_and_no_ground_truth_gives_minus_one()
    {
        var gt = CocoDataset.Parse(OneObject);
        var r = CocoEvaluator.Evaluate(gt, [], CocoIouType.Bbox);
        Assert.Equal(0.0, r["AP"]);
        Assert.Equal(-1.0, r["APl"]);
        Assert.Contains("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000", r.Summary());
    }
}
