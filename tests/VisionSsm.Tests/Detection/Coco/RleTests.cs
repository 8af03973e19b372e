using VisionSsm.Detection.Coco;

namespace VisionSsm.Tests.Detection.Coco;

public class RleTests
{
    [Fact]
    public void Encoding_is_column_major_runs_starting_with_zeros()
    {
        // Row-major 3×2 mask [[0,1],[1,1],[0,0]]: column 0 is (0,1,0), column 1 is (1,1,0) → 0 1 1 1 0 0 → runs 1,1,1... :
        // one 0, one 1, one 0, two 1s, one 0 → [1, 1, 1, 2, 1].
        var r = Rle.Encode(new byte[] { 0, 1, 1, 1, 0, 0 }, 3, 2);
        Assert.Equal(new uint[] { 1, 1, 1, 2, 1 }, r.Counts);
        Assert.Equal(3, r.Area());
        Assert.Equal(new byte[] { 0, 1, 1, 1, 0, 0 }, r.Decode());
        Assert.Equal(new double[] { 0, 0, 2, 2 }, r.ToBbox());
        // A mask starting with foreground has an empty first run.
        Assert.Equal(new uint[] { 0, 6 }, Rle.Encode(new byte[] { 1, 1, 1, 1, 1, 1 }, 2, 3).Counts);
        Assert.Equal(new uint[] { 6 }, Rle.Encode(new byte[6], 2, 3).Counts);
        Assert.Equal(new double[] { 0, 0, 0, 0 }, Rle.Encode(new byte[6], 2, 3).ToBbox());
    }

    [Fact]
    public void Bad_counts_and_strings_are_errors()
    {
        Assert.Contains("sum to 5", Assert.Throws<ArgumentException>(() => new Rle(2, 3, [2, 3])).Message);
        Assert.Throws<FormatException>(() => Rle.FromCompressedString("0{", 2, 3));
        Assert.Throws<FormatException>(() => Rle.FromCompressedString("P", 2, 3)); // continuation bit set, then the end
    }

    [Fact]
    public void Random_masks_round_trip_through_both_encodings()
    {
        var rng = new Random(11);
        for (int t = 0; t < 50; t++)
        {
            int h = rng.Next(1, 40), w = rng.Next(1, 40);
            var m = new byte[h * w];
            double density = rng.NextDouble();
            for (int i = 0; i < m.Length; i++) m[i] = (byte)(rng.NextDouble() < density ? 1 : 0);
            var r = Rle.Encode(m, h, w);
            Assert.Equal(m, r.Decode());
            Assert.Equal(m.Count(v => v != 0), r.Area());
            var back = Rle.FromCompressedString(r.ToCompressedString(), h, w);
            Assert.Equal(r.Counts, back.Counts);
        }
    }

    [Fact]
    public void Polygons_and_boxes_rasterise_as_pycocotools()
    {
        var masks = CocoFixtures.Json("coco_masks.json");
        int n = 0;
        foreach (var p in masks.GetProperty("polygons").EnumerateArray())
        {
            int h = p.GetProperty("height").GetInt32(), w = p.GetProperty("width").GetInt32();
            var r = Rle.FromPolygon(CocoFixtures.Doubles(p.GetProperty("polygon")), h, w);
            Assert.Equal(p.GetProperty("counts").GetString(), r.ToCompressedString());
            Assert.Equal(p.GetProperty("area").GetInt64(), r.Area());
            Assert.Equal(CocoFixtures.Doubles(p.GetProperty("bbox")), r.ToBbox());
            // The reference's string decodes to the same runs.
            Assert.Equal(r.Counts, Rle.FromCompressedString(p.GetProperty("counts").GetString()!, h, w).Counts);
            n++;
        }
        Assert.Equal(40, n);
        foreach (var b in masks.GetProperty("boxes").EnumerateArray())
        {
            var box = CocoFixtures.Doubles(b.GetProperty("box"));
            var r = Rle.FromBox(box[0], box[1], box[2], box[3], b.GetProperty("height").GetInt32(), b.GetProperty("width").GetInt32());
            Assert.Equal(b.GetProperty("counts").GetString(), r.ToCompressedString());
        }
    }

    [Fact]
    public void Mask_iou_with_crowd_matches_pycocotools()
    {
        var s = CocoFixtures.Json("coco_masks.json").GetProperty("iou");
        int h = s.GetProperty("height").GetInt32(), w = s.GetProperty("width").GetInt32();
        var rles = s.GetProperty("counts").EnumerateArray().Select(c => Rle.FromCompressedString(c.GetString()!, h, w)).ToArray();
        var crowd = s.GetProperty("crowd").EnumerateArray().Select(c => c.GetBoolean()).ToArray();
        var expected = s.GetProperty("iou").EnumerateArray().Select(CocoFixtures.Doubles).ToArray();
        Assert.True(rles.Length >= 5);
        int nonzero = 0;
        for (int i = 0; i < rles.Length; i++)
            for (int j = 0; j < rles.Length; j++)
            {
                double iou = Rle.Iou(rles[i], rles[j], crowd[j]);
                Assert.Equal(expected[i][j], iou, 15);
                if (iou > 0 && i != j) nonzero++;
            }
        Assert.True(nonzero > 0, "the fixture should contain overlapping masks");
    }

    [Fact]
    public void Merge_is_the_pixelwise_union()
    {
        var a = Rle.Encode(new byte[] { 1, 0, 0, 0, 1, 0 }, 2, 3);
        var b = Rle.Encode(new byte[] { 0, 0, 1, 0, 1, 1 }, 2, 3);
        Assert.Equal(new byte[] { 1, 0, 1, 0, 1, 1 }, Rle.Merge([a, b]).Decode());
        Assert.Equal(new byte[] { 0, 0, 0, 0, 1, 0 }, Rle.Merge([a, b], intersect: true).Decode());
        // IoU by hand: intersection 1, union 4; crowd: intersection / area(detection a) = 1/2.
        Assert.Equal(0.25, Rle.Iou(a, b, crowd: false));
        Assert.Equal(0.5, Rle.Iou(a, b, crowd: true));
    }
}
