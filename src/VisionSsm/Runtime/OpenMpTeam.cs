using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VisionSsm.Runtime;

/// <summary>
/// Runs the parallel loops of our C# kernels on libtorch's own OpenMP thread team (libgomp's <c>GOMP_parallel</c>, what
/// libtorch's <c>at::parallel_for</c> compiles to) instead of .NET's thread pool. Why: between libtorch ops the team's
/// idle workers spin (OpenMpPolicy), and a spinning worker holds the core a .NET pool thread of our kernel needs —
/// on 2 cores the kernel then runs on one core while the other spins. On the team, the spinning worker is the one that
/// picks our work up, at once. The loop is <c>Parallel.For</c>'s contract: every index once, dynamic scheduling
/// (chunks from a shared counter), the first exception rethrown in an <see cref="AggregateException"/> after all threads stop.
/// Falls back to <c>Parallel.For</c> when libgomp is not loaded (other platforms) or <see cref="KernelOptions.OpenMp"/>
/// is off; inside a parallel region (nested) the loop runs on the calling thread.
/// </summary>
public static unsafe class OpenMpTeam
{
    static readonly delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void> GompParallel;
    static readonly delegate* unmanaged<int> InParallel;

    /// <summary>True when libtorch's libgomp was found in this process.</summary>
    public static bool Available => GompParallel != null;

    static OpenMpTeam()
    {
        if (!OperatingSystem.IsLinux()) return;
        NativeLibraryCheck.EnsureLoaded();
        try
        {
            // libtorch ships its own libgomp (libgomp-<hash>.so.1); find the copy this process loaded.
            string? path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && Path.GetFileName(f[5]).StartsWith("libgomp", StringComparison.Ordinal)).Select(f => f[5]).FirstOrDefault();
            if (path is null || !NativeLibrary.TryLoad(path, out var lib)) return;
            if (NativeLibrary.TryGetExport(lib, "GOMP_parallel", out var parallel) && NativeLibrary.TryGetExport(lib, "omp_in_parallel", out var inParallel))
            {
                InParallel = (delegate* unmanaged<int>)inParallel;
                GompParallel = (delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary><c>Parallel.For(from, to, options, body)</c> on the OpenMP team (see the class summary).</summary>
    public static void For(long fromInclusive, long toExclusive, ParallelOptions options, Action<long> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(fromInclusive, toExclusive, options, () => 0, (i, local) => { body(i); return local; }, _ => { });
    }

    /// <summary>
    /// <c>Parallel.For(from, to, options, localInit, body, localFinally)</c> on the OpenMP team: each thread that runs
    /// makes its own local state, threads it through its bodies and hands it to <paramref name="localFinally"/>.
    /// </summary>
    public static void For<TLocal>(long fromInclusive, long toExclusive, ParallelOptions options,
        Func<TLocal> localInit, Func<long, TLocal, TLocal> body, Action<TLocal> localFinally)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(localInit);
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(localFinally);
        long count = toExclusive - fromInclusive;
        if (count <= 0) return;
        int maxThreads = options.MaxDegreeOfParallelism > 0 ? options.MaxDegreeOfParallelism : Environment.ProcessorCount;
        int threads = (int)Math.Min(maxThreads, count);
        // Indices are handed out in chunks (16 per thread in all, like OpenMP's dynamic schedule with a chunk size) so
        // that tiny bodies (one row of a merge) do not all contend for the shared counter.
        long chunk = Math.Max(1, count / (16L * threads));
        var job = new Job<TLocal> { Next = fromInclusive, End = toExclusive, Chunk = chunk, Init = localInit, Body = body, Finally = localFinally };
        if (threads <= 1 || (Available && InParallel() != 0))
        {
            job.RunOnThisThread();                                   // nested or one thread: the caller does it all
        }
        else if (!KernelOptions.Current.OpenMp || !Available)
        {
            Parallel.For(fromInclusive, toExclusive, options, localInit, (i, _, local) => body(i, local), localFinally);
            return;
        }
        else
        {
            var handle = GCHandle.Alloc(job);
            try
            {
                GompParallel(&Worker, GCHandle.ToIntPtr(handle), (uint)threads, 0);
            }
            finally
            {
                handle.Free();
            }
        }
        if (job.Error is not null) throw new AggregateException(job.Error);
    }

    abstract class JobBase
    {
        public long Next, End, Chunk;
        public Exception? Error;

        /// <summary>Takes indices from the shared counter until they run out or a body has thrown; records the first error.</summary>
        public abstract void RunOnThisThread();
    }

    sealed class Job<TLocal> : JobBase
    {
        public required Func<TLocal> Init;
        public required Func<long, TLocal, TLocal> Body;
        public required Action<TLocal> Finally;

        public override void RunOnThisThread()
        {
            try
            {
                var local = Init();
                try
                {
                    long start;
                    while (Volatile.Read(ref Error) is null && (start = Interlocked.Add(ref Next, Chunk) - Chunk) < End)
                        for (long i = start, stop = Math.Min(End, start + Chunk); i < stop; i++) local = Body(i, local);
                }
                finally
                {
                    Finally(local);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref Error, e, null);
            }
        }
    }

    /// <summary>The team's entry point: every thread of the region runs the job's loop (exceptions never cross into libgomp).</summary>
    [UnmanagedCallersOnly]
    static void Worker(IntPtr data) => ((JobBase)GCHandle.FromIntPtr(data).Target!).RunOnThisThread();
}
