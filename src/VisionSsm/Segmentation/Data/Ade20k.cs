namespace VisionSsm.Segmentation.Data;

/// <summary>
/// The ADE20K scene-parsing layout (ADEChallengeData2016): <c>images/{training,validation}/*.jpg</c> and
/// <c>annotations/{training,validation}/*.png</c> paired by stem. Stored label 0 means "other objects" and is not one
/// of the 150 classes, so reduce-zero-label applies (mmseg's <c>ADE20KDataset</c>): 0 → 255 (ignored), k → k − 1.
/// </summary>
public static class Ade20k
{
    /// <summary>The 150 class names in label order (mmseg <c>mmseg/datasets/ade.py</c>).</summary>
    public static readonly IReadOnlyList<string> ClassNames =
    [
        "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet", "sidewalk",
        "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water", "painting", "sofa",
        "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
        "bathtub", "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
        "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow",
        "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill",
        "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine",
        "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
        "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
        "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
        "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food",
        "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket",
        "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
        "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
    ];

    public static bool Matches(string root) =>
        Directory.Exists(Path.Combine(root, "annotations")) &&
        (Directory.Exists(Path.Combine(root, "images", "training")) || Directory.Exists(Path.Combine(root, "images", "validation")));

    /// <summary>The training or validation split under <paramref name="root"/> (RGB images).</summary>
    public static SegmentationFileDataset Open(string root, bool train, int channels = 3)
    {
        string split = train ? "training" : "validation";
        string images = Path.Combine(root, "images", split), annotations = Path.Combine(root, "annotations", split);
        if (!Directory.Exists(images) || !Directory.Exists(annotations))
            throw new DirectoryNotFoundException($"{root}: the ADE20K layout needs images/{split} and annotations/{split}.");
        return new SegmentationFileDataset(SegmentationFolders.Pair(images, annotations), ClassNames, reduceZeroLabel: true, channels, images);
    }
}
