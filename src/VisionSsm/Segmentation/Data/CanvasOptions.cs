namespace VisionSsm.Segmentation.Data;

/// <summary>
/// How <see cref="FashionMnistCanvas"/> composes canvases (docs/segmentation-data.md). Defaults: 64×64 grayscale
/// canvases holding 2–4 items each, every item scaled by a uniform factor in [0.75, 1.5] (21–42 px) and placed so that
/// its square overlaps each earlier one by at most 20 % of the smaller square where 20 position draws allow, pixels with
/// value ≥ 0.1 after scaling count as ink; 10 000 train and 1 000 test canvases from seed 0.
/// </summary>
public sealed record CanvasOptions
{
    /// <summary>Canvas height and width in pixels (square canvases).</summary>
    public int Size { get; init; } = 64;
    public int MinItems { get; init; } = 2;
    public int MaxItems { get; init; } = 4;
    public double MinScale { get; init; } = 0.75;
    public double MaxScale { get; init; } = 1.5;

    /// <summary>
    /// Cap on the overlap of an item's square with each earlier item's square, as a share of the smaller square's area;
    /// positions are redrawn (up to <see cref="PositionDraws"/> draws, keeping the least overlapping) until it holds.
    /// 1 = no cap (every first draw kept).
    /// </summary>
    public double MaxOverlap { get; init; } = 0.2;

    /// <summary>Position draws per item under <see cref="MaxOverlap"/>; when none fits, the one overlapping least stands.</summary>
    public const int PositionDraws = 20;

    /// <summary>A scaled item's pixel is ink (drawn and labelled) when its value is at least this.</summary>
    public float InkThreshold { get; init; } = 0.1f;

    /// <summary>1: grayscale canvases; 3: the gray value replicated to R, G and B.</summary>
    public int Channels { get; init; } = 1;

    public int Seed { get; init; }
    public int TrainCount { get; init; } = 10_000;
    public int TestCount { get; init; } = 1_000;

    /// <summary>Throws naming the first bad setting.</summary>
    public void Validate()
    {
        if (Size < 8) throw new ArgumentOutOfRangeException(nameof(Size), Size, "expected a canvas size of at least 8 pixels.");
        if (MinItems < 1 || MaxItems < MinItems)
            throw new ArgumentOutOfRangeException(nameof(MinItems), $"items per canvas [{MinItems}, {MaxItems}]: expected 1 ≤ MinItems ≤ MaxItems.");
        if (MaxItems > 64) throw new ArgumentOutOfRangeException(nameof(MaxItems), MaxItems, "expected at most 64 items per canvas.");
        if (!(MinScale > 0) || !(MaxScale >= MinScale))
            throw new ArgumentOutOfRangeException(nameof(MinScale), $"scale range [{MinScale}, {MaxScale}]: expected 0 < MinScale ≤ MaxScale.");
        if (ItemSize(MaxScale) > Size)
            throw new ArgumentOutOfRangeException(nameof(MaxScale), MaxScale,
                $"an item scaled by {MaxScale} is {ItemSize(MaxScale)} px and does not fit a {Size}-px canvas; lower MaxScale or raise Size.");
        if (!(MaxOverlap >= 0 && MaxOverlap <= 1))
            throw new ArgumentOutOfRangeException(nameof(MaxOverlap), MaxOverlap, "expected an overlap cap in [0, 1] (1 = no cap).");
        if (!(InkThreshold > 0 && InkThreshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(InkThreshold), InkThreshold, "expected an ink threshold in (0, 1].");
        if (Channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(Channels), Channels, "expected 1 (gray) or 3 (gray replicated to RGB).");
        if (TrainCount < 0 || TestCount < 0)
            throw new ArgumentOutOfRangeException(nameof(TrainCount), $"canvas counts {TrainCount}/{TestCount} must not be negative.");
    }

    /// <summary>Side in pixels of a 28-px item scaled by <paramref name="scale"/>: round(28·scale), at least 1.</summary>
    public static int ItemSize(double scale) => Math.Max(1, (int)Math.Round(FashionMnistCanvas.ItemPixels * scale, MidpointRounding.AwayFromZero));
}
