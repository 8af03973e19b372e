using static TorchSharp.torch;

namespace VisionSsm.Runtime;

/// <summary>
/// The random generator that stochastic layers (drop path) draw from on the current thread: torch's global generator
/// unless a block of code installs its own with <see cref="Use"/>. Why: the shards of a data-parallel training step
/// (Training/DataParallelStep) run concurrently, and one shared generator would hand out its numbers in whatever
/// order the threads reach it; a generator per shard, seeded from the step's position, keeps every mask repeatable.
/// Thread-local: it never flows to other threads.
/// </summary>
public static class RandomStream
{
    [ThreadStatic] static Generator? current;

    /// <summary>The generator in force on this thread; null means torch's global generator.</summary>
    public static Generator? Current => current;

    /// <summary>Makes <paramref name="generator"/> current on this thread until the scope is disposed (not owned).</summary>
    public static Scope Use(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var previous = current;
        current = generator;
        return new Scope(previous);
    }

    /// <summary>Restores the generator in force before <see cref="Use"/>.</summary>
    public readonly struct Scope : IDisposable
    {
        readonly Generator? previous;
        internal Scope(Generator? previous) => this.previous = previous;
        public void Dispose() => current = previous;
    }
}
