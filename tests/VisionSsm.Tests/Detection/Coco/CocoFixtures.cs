using System.Text.Json;

namespace VisionSsm.Tests.Detection.Coco;

/// <summary>
/// Files written by Fixtures/make_coco_fixtures.py with pycocotools (cocodataset/cocoapi) as the reference: ground
/// truth, detections, and the numbers pycocotools computed on them (docs/detection.md §7).
/// </summary>
static class CocoFixtures
{
    public static string Path(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "Detection", "Fixtures", name);

    public static JsonElement Json(string name) => JsonDocument.Parse(File.ReadAllText(Path(name))).RootElement;

    public static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
}
