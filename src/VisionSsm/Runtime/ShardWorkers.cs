using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Runtime;

/// <summary>
/// Runs N independent jobs at once, each on its own dedicated thread with ONE libtorch intra-op thread and one C#
/// kernel thread (the workers of <see cref="InterOpParallel"/>, in a pool of their own that grows to the largest N
/// asked for). The training counterpart of <see cref="InterOpParallel"/>: with <c>gradients</c> the jobs run with
/// autograd on (grad mode is per thread in libtorch), so each can run a forward and a backward of its own.
/// Jobs run under the caller's <see cref="KernelOptions"/>; their results come back in the caller's dispose scope,
/// in job order. One call at a time; a call made while another runs waits for it.
/// </summary>
public static class ShardWorkers
{
    static readonly object Gate = new();
    static readonly List<InterOpParallel.Worker> Pool = new();

    /// <summary>Runs <paramref name="job"/>(0 … count−1) side by side and returns their results by index.
    /// The first exception (lowest index) is rethrown here after every job has stopped.</summary>
    public static Tensor[][] Run(int count, Func<int, Tensor[]> job, bool gradients)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentNullException.ThrowIfNull(job);
        lock (Gate)
        {
            if (Pool.Count < count)
            {
                while (Pool.Count < count) Pool.Add(InterOpParallel.Worker.Start());
                // Worker start-up set libtorch's default thread count (for threads not yet initialised) to 1; restore it.
                torch.set_num_threads(TorchRuntime.Threads);
            }
            var options = KernelOptions.Current;
            for (int i = 0; i < count; i++)
            {
                int index = i;
                Pool[i].Post(() =>
                {
                    using var kernels = KernelOptions.Use(options);
                    using var grad = torch.enable_grad(gradients);
                    return job(index);
                });
            }
            var results = new Tensor[]?[count];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo? first = null;
            for (int i = 0; i < count; i++)
            {
                var (made, error) = Pool[i].Wait();
                results[i] = made;
                first ??= error;
            }
            if (first is not null)
            {
                foreach (var t in results.Where(r => r is not null).SelectMany(r => r!)) t.Dispose();
                first.Throw();
            }
            return results.Select(r => InterOpParallel.Adopt(r!)).ToArray();
        }
    }
}
