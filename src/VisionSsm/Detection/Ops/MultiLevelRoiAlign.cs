using static TorchSharp.torch;

namespace VisionSsm.Detection.Ops;

/// <summary>
/// RoIAlign over a feature pyramid with each roi read from one level chosen by its size, as mmdetection's
/// <c>SingleRoIExtractor</c> (<c>mmdet/models/roi_heads/roi_extractors/single_level_roi_extractor.py</c>):
/// <c>level = floor(log2(sqrt(w·h) / finestScale + 1e-6))</c> clamped to [0, L−1], with w, h the box sides in image
/// pixels. With finestScale 56 and strides 4/8/16/32, boxes under 112 px go to stride 4, 112–224 to 8, 224–448 to 16,
/// the rest to 32 (FPN paper, Eq. 1, with k0 = 4 and canonical size 224 shifted by one level).
/// </summary>
public sealed class MultiLevelRoiAlign
{
    public int OutputSize { get; }
    public IReadOnlyList<int> Strides { get; }
    public int SamplingRatio { get; }
    public bool Aligned { get; }
    public double FinestScale { get; }

    /// <param name="outputSize">Output side: 7 for the box head, 14 for the mask head.</param>
    /// <param name="strides">Stride of each level, finest first (mmdetection: 4, 8, 16, 32).</param>
    public MultiLevelRoiAlign(int outputSize, IReadOnlyList<int> strides, int samplingRatio = 0, bool aligned = true, double finestScale = 56)
    {
        if (outputSize < 1) throw new ArgumentOutOfRangeException(nameof(outputSize), $"outputSize must be >= 1, got {outputSize}");
        if (strides.Count == 0 || strides.Any(s => s < 1))
            throw new ArgumentException($"strides must be a non-empty list of positive integers, got [{string.Join(", ", strides)}]", nameof(strides));
        if (samplingRatio < 0) throw new ArgumentOutOfRangeException(nameof(samplingRatio), $"samplingRatio must be >= 0, got {samplingRatio}");
        if (!(finestScale > 0)) throw new ArgumentOutOfRangeException(nameof(finestScale), $"finestScale must be > 0, got {finestScale}");
        OutputSize = outputSize; Strides = strides.ToArray(); SamplingRatio = samplingRatio; Aligned = aligned; FinestScale = finestScale;
    }

    /// <summary>The level of each roi (R, 5) as an int64 tensor (R).</summary>
    public static Tensor MapLevels(Tensor rois, int numLevels, double finestScale = 56)
    {
        if (rois.dim() != 2 || rois.shape[1] != 5)
            throw new ArgumentException($"rois must be (R, 5), got shape [{string.Join(", ", rois.shape)}]", nameof(rois));
        if (numLevels < 1) throw new ArgumentOutOfRangeException(nameof(numLevels), $"numLevels must be >= 1, got {numLevels}");
        var b = HostArrays.Doubles(rois);
        var lv = new long[b.Length / 5];
        for (int i = 0; i < lv.Length; i++)
        {
            double scale = Math.Sqrt((b[5 * i + 3] - b[5 * i + 1]) * (b[5 * i + 4] - b[5 * i + 2]));
            double level = Math.Floor(Math.Log2(scale / finestScale + 1e-6));
            // A box with negative area (NaN scale) goes to level 0 rather than to an undefined integer.
            lv[i] = double.IsNaN(level) ? 0 : (long)Math.Clamp(level, 0, numLevels - 1);
        }
        return tensor(lv);
    }

    /// <summary>(R, C, S, S) features of <paramref name="rois"/> read from <paramref name="levels"/> (finest first).</summary>
    public Tensor Apply(IReadOnlyList<Tensor> levels, Tensor rois)
    {
        if (levels.Count != Strides.Count)
            throw new ArgumentException($"expected {Strides.Count} feature levels (one per stride), got {levels.Count}", nameof(levels));
        long c = levels[0].shape[1];
        for (int i = 1; i < levels.Count; i++)
            if (levels[i].shape[1] != c)
                throw new ArgumentException($"all levels must have {c} channels; level {i} has {levels[i].shape[1]}", nameof(levels));
        using var scope = NewDisposeScope();
        var target = MapLevels(rois, levels.Count, FinestScale);
        var lv = HostArrays.Longs(target);
        var pieces = new List<Tensor>();
        var order = new List<long>();
        for (int l = 0; l < levels.Count; l++)
        {
            var inds = Enumerable.Range(0, lv.Length).Where(i => lv[i] == l).Select(i => (long)i).ToArray();
            if (inds.Length == 0) continue;
            var sel = rois.index_select(0, tensor(inds, device: rois.device));
            pieces.Add(RoiAlign.Apply(levels[l], sel, OutputSize, OutputSize, 1.0 / Strides[l], SamplingRatio, Aligned));
            order.AddRange(inds);
        }
        if (pieces.Count == 0) // no rois: RoIAlign's empty output, still part of the graph
            return RoiAlign.Apply(levels[0], rois, OutputSize, OutputSize, 1.0 / Strides[0], SamplingRatio, Aligned).MoveToOuterDisposeScope();
        // Undo the grouping by level: position order[k] holds piece row k.
        var inverse = new long[order.Count];
        for (int k = 0; k < order.Count; k++) inverse[order[k]] = k;
        var all = pieces.Count == 1 ? pieces[0] : cat(pieces, 0);
        return all.index_select(0, tensor(inverse, device: all.device)).MoveToOuterDisposeScope();
    }
}
