using static TorchSharp.torch;

namespace VisionSsm.Data;

/// <summary>Options of <see cref="PrefetchLoader"/>.</summary>
public sealed record LoaderOptions
{
    public int BatchSize { get; init; } = 64;
    /// <summary>Shuffle with a permutation that depends only on (<see cref="Seed"/>, epoch).</summary>
    public bool Shuffle { get; init; } = true;
    public int Seed { get; init; }
    /// <summary>Drop the last incomplete batch (timm drops it for training).</summary>
    public bool DropLast { get; init; }
    /// <summary>Background threads decoding and transforming batches (one batch per worker at a time).</summary>
    public int Workers { get; init; } = 2;
    /// <summary>Batches prepared ahead of the consumer (bounded memory: at most this many are held in flight).</summary>
    public int PrefetchDepth { get; init; } = 4;
    public ISampleTransform? SampleTransform { get; init; }
    /// <summary>Mixup/CutMix etc.; runs on the consumer thread on the batch tensors. Needs <see cref="NumClasses"/>.</summary>
    public IBatchTransform? BatchTransform { get; init; }
    /// <summary>Class count for the batch transform's soft targets; defaults to the data set's class count.</summary>
    public int? NumClasses { get; init; }
    /// <summary>Repeated augmentation (Hoffer et al. 2020; timm RASampler, Vim's recipe uses 3): each drawn image appears
    /// this many times in a row with different augmentations. 1 = off.</summary>
    public int RepeatedAugmentation { get; init; } = 1;
    /// <summary>Where the batch tensors go (null = CPU).</summary>
    public Device? Device { get; init; }

    internal void Validate()
    {
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "expected a positive batch size.");
        if (Workers <= 0) throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "expected at least one worker.");
        if (RepeatedAugmentation <= 0) throw new ArgumentOutOfRangeException(nameof(RepeatedAugmentation), RepeatedAugmentation, "expected ≥ 1 (1 = off).");
        if (PrefetchDepth <= 0) throw new ArgumentOutOfRangeException(nameof(PrefetchDepth), PrefetchDepth, "expected a positive prefetch depth.");
    }
}
