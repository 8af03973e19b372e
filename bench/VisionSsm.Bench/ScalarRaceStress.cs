using TorchSharp;
using VisionSsm.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Makes the TorchSharp temporary-Scalar race (docs/reliability.md) likely: training steps (forward, loss, backward,
/// AdamW from <see cref="OptimizerFactory"/>) and inference steps of a small-image ResNet with BatchNorm, while
/// another thread runs <c>GC.Collect(); GC.WaitForPendingFinalizers();</c> without pause, so a temporary Scalar's
/// finalizer can run while native code still reads it. Every step's exception is counted, not rethrown.
/// Shared by the bench suite <c>scalar-race</c> and the short in-suite test.
/// </summary>
public static class ScalarRaceStress
{
    /// <summary><paramref name="Errors"/>: failed steps per "method that threw: first line of the message".</summary>
    public sealed record Result(int Steps, int Failures, IReadOnlyDictionary<string, int> Errors, TimeSpan Elapsed, int Collections);

    /// <summary>Runs <paramref name="steps"/> train+inference steps (or until <paramref name="duration"/>, when given).</summary>
    public static Result Run(int steps, TimeSpan? duration = null, int seed = 1)
    {
        torch.manual_seed(seed);
        using var model = new ResNet(new ResNetConfig([1, 1, 1, 1], ResNetStem.SmallImage, Widths: [4, 8, 8, 8], StemWidth: 8,
            ImageSize: 8), new ModelOptions(NumClasses: 10));
        var config = new TrainConfig { Lr = 1e-3, WeightDecay = 0.05 };
        using var optimizer = OptimizerFactory.Create(model, config);
        using var x = torch.randn(4, 3, 8, 8);
        using var y = torch.randint(0, 10, [4], dtype: ScalarType.Int64);

        var errors = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int failures = 0, done = 0, collections = 0;
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                collections++;
            }
        }) { IsBackground = true, Name = "scalar-race GC" };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        collector.Start();
        try
        {
            for (; done < steps && (duration is null || clock.Elapsed < duration); done++)
            {
                try { Step(model, optimizer, x, y); }
                catch (Exception e)
                {
                    failures++;
                    var thrower = new System.Diagnostics.StackTrace(e).GetFrames().Select(f => f.GetMethod()).FirstOrDefault(m => m?.Name != "CheckForErrors");
                    string key = $"{thrower?.DeclaringType?.Name}.{thrower?.Name}: {e.Message.Split('\n')[0]}";
                    errors[key] = errors.GetValueOrDefault(key) + 1;
                }
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
        return new Result(done, failures, errors, clock.Elapsed, collections);
    }

    static void Step(ResNet model, optim.Optimizer optimizer, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        model.train();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.call(x), y);
        loss.backward();
        optimizer.step();
        model.eval();
        using (no_grad()) model.call(x);
        model.train();
    }
}
