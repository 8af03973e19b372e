namespace VisionSsm.Runtime;

/// <summary>
/// Which shard of a data-parallel training step (Training/DataParallelStep) the current thread computes, so that layers
/// with batch-level state behave as the replicas of PyTorch's <c>DistributedDataParallel</c> do: BatchNorm normalises
/// each shard with the shard's own statistics, and only shard 0 updates the running statistics (DDP copies rank 0's
/// buffers to every replica before each forward, so the other replicas' updates never count). Thread-local; 0 outside
/// a data-parallel step.
/// </summary>
public static class DataParallelShard
{
    [ThreadStatic] static int index;

    /// <summary>The shard this thread computes; 0 outside a data-parallel step.</summary>
    public static int Index => index;

    /// <summary>Marks this thread as computing shard <paramref name="shard"/> until the scope is disposed.</summary>
    public static Scope Enter(int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        int previous = index;
        index = shard;
        return new Scope(previous);
    }

    public readonly struct Scope : IDisposable
    {
        readonly int previous;
        internal Scope(int previous) => this.previous = previous;
        public void Dispose() => index = previous;
    }
}
