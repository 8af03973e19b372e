using System.Runtime.ExceptionServices;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Runtime;

/// <summary>
/// Inference-time inter-op parallelism: runs two independent branches of a model at once, each on its own dedicated
/// thread with ONE libtorch intra-op thread and one C# kernel thread, instead of one after the other with every op
/// split across the cores.
/// Why: at batch 1 a hybrid block is a chain of many small ops (tens to hundreds of µs each). Splitting each across
/// the 2 cores costs an OpenMP wake-up per op (idle workers sleep under <see cref="OpenMpPolicy"/>'s PASSIVE
/// policy), which on this VM costs as much as the work saved; two whole branches side by side need two wake-ups in
/// total. Only for inference: the branches run under no_grad, and callers fall back to the serial path when
/// gradients are on, with fewer than 2 threads, or with <see cref="KernelOptions.InterOp"/> off.
/// Results are the same tensors the serial code computes, up to the rounding of single- vs multi-threaded kernels.
/// </summary>
public static class InterOpParallel
{
    static readonly object Gate = new();
    static Worker[]? workers;

    /// <summary>True when two branches may run concurrently now: allowed by the options, ≥ 2 threads, gradients off (on this thread).</summary>
    public static bool Available => KernelOptions.Current.InterOp && TorchRuntime.Threads >= 2 && !is_grad_enabled();

    /// <summary>
    /// Runs <paramref name="first"/> and <paramref name="second"/> concurrently on the two worker threads and returns
    /// their results, owned by the caller's dispose scope. Runs them one after the other on the calling thread when the
    /// workers are busy (another caller, or a nested call from a branch). Exceptions are rethrown here.
    /// </summary>
    public static (Tensor First, Tensor Second) Run(Func<Tensor> first, Func<Tensor> second)
    {
        var (a, b) = Run(() => [first()], () => [second()]);
        return (a[0], b[0]);
    }

    /// <summary>As <see cref="Run(Func{Tensor}, Func{Tensor})"/>, for branches with several result tensors.</summary>
    public static (Tensor[] First, Tensor[] Second) Run(Func<Tensor[]> first, Func<Tensor[]> second)
    {
        if (!Monitor.TryEnter(Gate)) return (first(), second());
        try
        {
            if (workers is null)
            {
                workers = [Worker.Start(), Worker.Start()];
                // Worker start-up set libtorch's default thread count (for threads not yet initialised) to 1; restore it.
                torch.set_num_threads(TorchRuntime.Threads);
            }
            // The branches run under the caller's kernel options (an ambient scope does not flow to the workers by itself).
            var options = KernelOptions.Current;
            workers[0].Post(() => { using (KernelOptions.Use(options)) return first(); });
            workers[1].Post(() => { using (KernelOptions.Use(options)) return second(); });
            var (a, errorA) = workers[0].Wait();
            var (b, errorB) = workers[1].Wait();
            if (errorA is not null || errorB is not null)
            {
                foreach (var t in (a ?? []).Concat(b ?? [])) t.Dispose();
                (errorA ?? errorB)!.Throw();
            }
            return (Adopt(a!), Adopt(b!));
        }
        finally { Monitor.Exit(Gate); }
    }

    /// <summary>Moves tensors made on a worker (outside any scope) into the caller's current dispose scope.</summary>
    internal static Tensor[] Adopt(Tensor[] made) => made.Select(t => { var mine = t.alias(); t.Dispose(); return mine; }).ToArray();

    /// <summary>A dedicated thread running one job at a time with one libtorch thread and gradients off (a job may turn them on for itself: <see cref="ShardWorkers"/>).</summary>
    internal sealed class Worker
    {
        readonly SemaphoreSlim start = new(0);
        readonly SemaphoreSlim done = new(0);
        Func<Tensor[]>? job;
        Tensor[]? result;
        ExceptionDispatchInfo? error;

        internal static Worker Start()
        {
            var w = new Worker();
            var ready = new ManualResetEventSlim();
            var thread = new Thread(() => w.Loop(ready)) { IsBackground = true, Name = "VisionSsm inter-op worker" };
            thread.Start();
            ready.Wait();
            return w;
        }

        void Loop(ManualResetEventSlim ready)
        {
            // One libtorch intra-op thread on this thread and one for our C# kernels. OpenMP/MKL thread counts are per
            // calling thread once set, but libtorch initialises a thread's count lazily from its process-wide default
            // on the thread's first parallel op: get_num_threads() runs that initialisation first, so the set below
            // sticks (it also sets the process-wide default, which Run restores).
            torch.get_num_threads();
            torch.set_num_threads(1);
            TorchRuntime.UseSingleThreadOnCurrentThread();
            ready.Set();
            while (true)
            {
                start.Wait();
                try
                {
                    using var noGrad = no_grad();
                    using var scope = NewDisposeScope();
                    var made = job!();
                    foreach (var t in made) t.MoveToOuterDisposeScope();
                    result = made;
                }
                catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
                job = null;
                done.Release();
            }
        }

        internal void Post(Func<Tensor[]> work)
        {
            job = work;
            result = null;
            error = null;
            start.Release();
        }

        internal (Tensor[]? Result, ExceptionDispatchInfo? Error) Wait()
        {
            done.Wait();
            var r = (result, error);
            result = null;
            error = null;
            return r;
        }
    }
}
