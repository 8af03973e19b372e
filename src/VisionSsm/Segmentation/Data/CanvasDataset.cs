using VisionSsm.Data;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// The composed Fashion-MNIST segmentation set in memory (the fast path for training): canvas <c>i</c> is planned from
/// its own seeded generator (seed, split, i) and rendered on each <see cref="Get"/>, so no canvas depends on any other,
/// nothing is cached and concurrent calls are safe. The same canvases are what <see cref="CanvasWriter.Write"/>
/// saves to disk.
/// </summary>
public sealed class CanvasDataset : ISegmentationDataset
{
    readonly IImageDataset source;
    readonly Func<int, int> labelOf;

    /// <param name="source">the Fashion-MNIST split the items come from (28×28, one channel).</param>
    /// <param name="train">which split this is; it only selects the generator stream and the default count.</param>
    /// <param name="count">number of canvases; null takes <see cref="CanvasOptions.TrainCount"/> or <see cref="CanvasOptions.TestCount"/>.</param>
    public CanvasDataset(IImageDataset source, bool train, CanvasOptions options, int? count = null)
    {
        options.Validate();
        if (source.Count == 0) throw new ArgumentException("the source data set is empty.", nameof(source));
        if (source.Classes.Count != FashionMnist.ClassNames.Count)
            throw new ArgumentException($"the source data set has {source.Classes.Count} classes; expected Fashion-MNIST's {FashionMnist.ClassNames.Count}.", nameof(source));
        var first = source.Get(0);
        if (first.Channels != 1 || first.Height != FashionMnistCanvas.ItemPixels || first.Width != FashionMnistCanvas.ItemPixels)
            throw new ArgumentException($"source items are {first.Channels}×{first.Height}×{first.Width}; expected 1×28×28 (Fashion-MNIST).", nameof(source));
        int n = count ?? (train ? options.TrainCount : options.TestCount);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(count), n, "expected a non-negative canvas count.");
        this.source = source;
        labelOf = source is IdxDataset idx ? idx.LabelOf : i => source.Get(i).Label;   // idx: no image decode for a label
        Train = train;
        Options = options;
        Count = n;
    }

    public int Count { get; }
    public bool Train { get; }
    public CanvasOptions Options { get; }
    public IReadOnlyList<string> Classes => FashionMnistCanvas.ClassNames;

    /// <summary>The items of canvas <paramref name="index"/> in drawing order (indices into the source split).</summary>
    public IReadOnlyList<CanvasItem> Items(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"expected 0 ≤ index < {Count}.");
        return FashionMnistCanvas.Plan(Options, Train, index, source.Count, labelOf);
    }

    /// <summary>The gray canvas <paramref name="index"/> and which item owns each pixel (<see cref="FashionMnistCanvas.Compose"/>).</summary>
    public (float[] Gray, byte[] Owner) Compose(int index) => FashionMnistCanvas.Compose(Items(index), source.Get, Options);

    /// <summary>Ink pixels of <paramref name="item"/> drawn alone (before any occlusion).</summary>
    public int InkPixels(CanvasItem item) => FashionMnistCanvas.Compose([item], source.Get, Options).Owner.Count(o => o != 0);

    public SegmentationSample Get(int index) => FashionMnistCanvas.Render(Items(index), source.Get, Options);
}
