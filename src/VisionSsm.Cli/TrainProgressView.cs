using Spectre.Console;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>
/// Shows a run's progress: a live Spectre.Console bar (epoch, step, loss, accuracy, img/s, ETA) when the output is a
/// terminal, plain log lines every <see cref="TrainConfig.LogInterval"/> steps otherwise (logs, CI, tests).
/// </summary>
static class TrainProgressView
{
    public static TrainingResult Run(Trainer trainer, CliContext ctx)
    {
        trainer.EpochCompleted += (row, test) =>
        {
            string ema = row.EmaTop1 is { } e ? $", EMA top-1 {e:F2}%" : "";
            Write(ctx, $"epoch {row.Epoch}/{trainer.Config.Epochs}: train loss {row.TrainLoss:F4}, train top-1 {row.TrainTop1:F2}%, " +
                       $"test loss {row.TestLoss:F4}, test top-1 {row.TestTop1:F2}%, top-5 {row.TestTop5:F2}%{ema} " +
                       $"({row.EpochSeconds:F0} s, {row.ImagesPerSecond:F0} img/s)");
        };
        trainer.Log += m => Write(ctx, m);
        if (!ctx.Interactive)
        {
            trainer.Progress += p =>
            {
                if (p.StepInEpoch % Math.Max(1, trainer.Config.LogInterval) == 0 || p.StepInEpoch == p.StepsPerEpoch)
                    ctx.Out.WriteLine(Describe(p));
            };
            return trainer.Run(ctx.Cancellation);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(ctx.Out) });
        liveConsole = console;
        TrainingResult? result = null;
        try
        {
            console.Progress()
                .AutoClear(true)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
                .Start(pc =>
                {
                    var task = pc.AddTask("starting…", maxValue: 1);
                    trainer.Progress += p =>
                    {
                        task.MaxValue = p.TotalSteps;
                        task.Value = p.Step;
                        task.Description = Markup.Escape(Describe(p));
                    };
                    result = trainer.Run(ctx.Cancellation);
                    task.StopTask();
                });
        }
        finally { liveConsole = null; }
        return result!;
    }

    static IAnsiConsole? liveConsole;

    static void Write(CliContext ctx, string line)
    {
        if (liveConsole is { } c) c.WriteLine(line);
        else ctx.Out.WriteLine(line);
    }

    static string Describe(TrainingProgress p) =>
        $"epoch {p.Epoch + 1}/{p.Epochs} step {p.StepInEpoch}/{p.StepsPerEpoch} loss {p.Loss:F4} acc {p.Top1:F2}% " +
        $"lr {p.Lr:0.###e+0} {p.ImagesPerSecond:F0} img/s ETA {Eta(p.Eta)}";

    static string Eta(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : $"{t.Minutes}m{t.Seconds:00}s";
}
