namespace VisionSsm.Export;

/// <summary>
/// How <see cref="OnnxExporter"/> builds a graph: the input batch and size, whether the batch is a symbolic dimension,
/// the opset, the chunk length of the loop-free selective scan (docs/export.md §3), and whether height and width are
/// symbolic (<see cref="DynamicSize"/>: only for models whose graph does not depend on the size, docs/export.md §5).
/// </summary>
public sealed record OnnxExportOptions(int Batch = 1, int? ImageSize = null, bool DynamicBatch = false, int Opset = OnnxExportOptions.DefaultOpset,
    int ScanChunkLength = OnnxExportOptions.DefaultScanChunkLength, bool DynamicSize = false)
{
    /// <summary>LayerNormalization, the one operator we need that is newest, arrived in opset 17.</summary>
    public const int MinOpset = 17;
    public const int MaxOpset = 21;
    public const int DefaultOpset = 17;

    /// <summary>Chunk length Q of the exported scan; see docs/export.md §3 for the measurement behind it.</summary>
    public const int DefaultScanChunkLength = 8;

    public void Validate()
    {
        if (Batch < 1) throw new ArgumentOutOfRangeException(nameof(Batch), Batch, "expected a batch of at least 1");
        if (ImageSize is < 1) throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "expected a positive image size");
        if (Opset is < MinOpset or > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(Opset), Opset, $"expected an opset from {MinOpset} (LayerNormalization) to {MaxOpset}");
        if (ScanChunkLength < 2) throw new ArgumentOutOfRangeException(nameof(ScanChunkLength), ScanChunkLength, "expected a chunk length of at least 2");
    }
}
