using System.Text.Json.Nodes;
using VisionSsm.Detection.Coco;

namespace VisionSsm.Tests.Detection.Coco;

public class CocoDatasetTests
{
    static string File(string images = """[{"id": 1, "width": 40, "height": 30, "file_name": "a.png"}, {"id": 2, "width": 7, "height": 1000, "file_name": "b.png"}]""",
        string annotations = "[]",
        string categories = """[{"id": 90, "name": "z"}, {"id": 2, "name": "b"}, {"id": 17, "name": "q"}]""") =>
        $$"""{"images": {{images}}, "annotations": {{annotations}}, "categories": {{categories}}}""";

    [Fact]
    public void Fixture_loads_with_every_segmentation_kind()
    {
        var ds = CocoDataset.Load(CocoFixtures.Path("coco_gt.json"));
        Assert.Equal(8, ds.Images.Count);
        Assert.Equal(new long[] { 1, 3, 7 }, ds.Categories.Select(c => c.Id));
        Assert.Contains(ds.Annotations, a => a.Segmentation is CocoPolygons);
        Assert.Contains(ds.Annotations, a => a.Segmentation is CocoRleSegmentation { WasCompressed: true });
        Assert.Contains(ds.Annotations, a => a.Segmentation is CocoRleSegmentation { WasCompressed: false });
        Assert.Contains(ds.Annotations, a => a.IsCrowd);
        // The stored area of every annotation is the pixel area of its mask (how the generator wrote them).
        foreach (var a in ds.Annotations) Assert.Equal(a.Area, a.ToRle(ds.Image(a.ImageId)).Area());
        Assert.Empty(ds.AnnotationsOf(6));
    }

    [Fact]
    public void Non_contiguous_category_ids_map_to_labels_by_ascending_id()
    {
        var ds = CocoDataset.Parse(File());
        Assert.Equal(0, ds.LabelOf(2));
        Assert.Equal(1, ds.LabelOf(17));
        Assert.Equal(2, ds.LabelOf(90));
        Assert.Equal("z", ds.Categories[2].Name);
        Assert.Contains("unknown category id 5", Assert.Throws<KeyNotFoundException>(() => ds.LabelOf(5)).Message);
        Assert.Equal(1000, ds.Image(2).Height); // any size
    }

    [Theory]
    [InlineData("{\"images\": [", "malformed JSON at line 1")]
    [InlineData("[1, 2]", "top level must be an object")]
    [InlineData("{\"images\": [], \"categories\": []}", "missing the \"annotations\" array")]
    public void Broken_files_are_named_errors(string json, string expected)
    {
        var e = Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(json, "test.json"));
        Assert.Contains("test.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"category_id\": 3", "unknown category_id 3")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"image_id\": 9", "image_id 9 is not in \"images\"")]
    [InlineData("\"bbox\": [0, 0, -5, 5]", "width and height must be >= 0")]
    [InlineData("\"bbox\": [0, 0, 5]", "\"bbox\" must be [x, y, width, height]")]
    [InlineData("\"bbox\": null", "missing \"bbox\"")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"segmentation\": []", "empty polygon list")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"segmentation\": [[1, 2, 3, 4]]", "polygon 0 needs an even number (>= 6)")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"segmentation\": {\"size\": [30, 41], \"counts\": [1200]}", "RLE size 30x41 differs")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"segmentation\": {\"size\": [30, 40], \"counts\": [10, 20]}", "bad RLE: RLE counts sum to 30")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"segmentation\": {\"size\": [30, 40], \"counts\": \"0{\"}", "bad RLE")]
    [InlineData("\"bbox\": [0, 0, 5, 5], \"iscrowd\": 2", "\"iscrowd\" must be 0 or 1")]
    [InlineData("\"bbox\": [0, 0, 5, \"x\"]", "bbox value must be a finite number")]
    public void Bad_annotations_name_the_annotation_and_the_problem(string body, string expected)
    {
        // A valid annotation with the fields of body replaced (a null value removes the field).
        var ann = JsonNode.Parse("""{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5]}""")!.AsObject();
        foreach (var (key, value) in JsonNode.Parse("{" + body + "}")!.AsObject().ToList())
        {
            ann.Remove(key);
            if (value is not null) ann[key] = value.DeepClone();
        }
        var json = File(annotations: "[" + ann.ToJsonString() + "]");
        var e = Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(json, "gt.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("annotation", e.Message);
    }

    [Fact]
    public void Duplicate_ids_and_bad_image_sizes_are_errors()
    {
        Assert.Contains("duplicate image id", Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(File(
            images: """[{"id": 1, "width": 4, "height": 3}, {"id": 1, "width": 4, "height": 3}]"""))).Message);
        Assert.Contains("positive integers", Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(File(
            images: """[{"id": 1, "width": 0, "height": 3}]"""))).Message);
        Assert.Contains("duplicate category id 2", Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(File(
            categories: """[{"id": 2}, {"id": 2}]"""))).Message);
        Assert.Contains("duplicate annotation id", Assert.Throws<CocoFormatException>(() => CocoDataset.Parse(File(
            annotations: """[{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0,0,1,1]}, {"id": 1, "image_id": 1, "category_id": 2, "bbox": [0,0,1,1]}]"""))).Message);
    }

    [Fact]
    public void Missing_area_is_the_mask_area_or_the_box_area()
    {
        var ds = CocoDataset.Parse(File(annotations: """
            [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 4, 2]},
             {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "segmentation": {"size": [30, 40], "counts": [5, 7, 1188]}}]
            """));
        Assert.Equal(8, ds.Annotations[0].Area);
        Assert.Equal(7, ds.Annotations[1].Area);
    }

    [Fact]
    public void Targets_clip_or_reject_boxes_outside_skip_degenerate_ones_and_ignore_crowds()
    {
        var ds = CocoDataset.Parse(File(annotations: """
            [{"id": 1, "image_id": 1, "category_id": 17, "bbox": [-5, 10, 20, 30], "area": 100,
              "segmentation": [[0, 10, 14, 10, 14, 29, 0, 29]]},
             {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 0, 5, 5], "area": 25},
             {"id": 3, "image_id": 1, "category_id": 2, "bbox": [1, 1, 0.5, 5], "area": 2},
             {"id": 4, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 0},
             {"id": 5, "image_id": 1, "category_id": 90, "bbox": [2, 3, 10, 10], "area": 100, "iscrowd": 1}]
            """));
        var t = CocoTargets.For(ds, 1, BoxPolicy.Clip, withMasks: true);
        Assert.Single(t.Boxes);
        Assert.Equal(new double[] { 0, 10, 15, 30 }, t.Boxes[0]); // x clipped at 0, y2 = 40 clipped at the height 30
        Assert.Equal(1, t.Labels[0]);                            // category 17 → label 1 of (2, 17, 90)
        Assert.Equal(new double[] { 2, 3, 12, 13 }, t.IgnoredBoxes.Single());
        Assert.Equal(3, t.Skipped);                             // outside the image, narrower than 1 px, zero area
        Assert.Equal(30 * 40, t.Masks![0].Length);
        Assert.True(t.Masks[0].Count(v => v != 0) > 200);
        var e = Assert.Throws<CocoFormatException>(() => CocoTargets.For(ds, 1, BoxPolicy.Reject));
        Assert.Contains("annotation 1", e.Message);
        Assert.Contains("outside image 1 of 40x30", e.Message);
        var empty = CocoTargets.For(ds, 2);
        Assert.Empty(empty.Boxes);
        Assert.Equal(0, empty.Skipped);
    }

    [Fact]
    public void Results_must_name_known_images_and_categories()
    {
        var ds = CocoDataset.Parse(File());
        Assert.Contains("image_id 3 is not in the ground truth", Assert.Throws<CocoFormatException>(() =>
            CocoResults.Parse("""[{"image_id": 3, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.5}]""", ds)).Message);
        Assert.Contains("unknown category_id 4", Assert.Throws<CocoFormatException>(() =>
            CocoResults.Parse("""[{"image_id": 1, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 0.5}]""", ds)).Message);
        Assert.Contains("missing \"score\"", Assert.Throws<CocoFormatException>(() =>
            CocoResults.Parse("""[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]}]""", ds)).Message);
        Assert.Contains("must be a JSON list", Assert.Throws<CocoFormatException>(() => CocoResults.Parse("{}", ds)).Message);
        var ok = CocoResults.Parse("""[{"image_id": 2, "category_id": 90, "bbox": [1, 2, 3, 4], "score": 0.25}]""", ds);
        Assert.Equal(12, ok[0].Area);
    }
}
