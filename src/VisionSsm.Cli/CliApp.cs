using System.CommandLine;
using VisionSsm.Runtime;

namespace VisionSsm.Cli;

/// <summary>Where a command writes and whether it may draw live progress (a terminal) or must print plain lines.</summary>
public sealed record CliContext(TextWriter Out, TextWriter Error, bool Interactive)
{
    /// <summary>The process console; live progress only when stdout is a terminal.</summary>
    public static CliContext FromConsole() => new(Console.Out, Console.Error, !Console.IsOutputRedirected);

    /// <summary>Set by Ctrl+C / SIGTERM (train saves a checkpoint and exits) or by a caller that wants to stop a run.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>The `vssm` command tree: a thin layer over the library; each verb lives in its own file.</summary>
public static class CliApp
{
    public static RootCommand Build(CliContext? context = null)
    {
        context ??= CliContext.FromConsole();
        var root = new RootCommand("VisionSsm: state-space vision backbones (VMamba, Vim, vGamba) on TorchSharp.");
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(EvalCommand.Create(context));
        root.Subcommands.Add(PredictCommand.Create(context));
        root.Subcommands.Add(ModelsCommand.Create(context));
        root.Subcommands.Add(FlopsCommand.Create(context));
        root.Subcommands.Add(BenchCommand.Create(context));
        root.Subcommands.Add(SegmentCommand.Create(context));
        root.Subcommands.Add(DetectCommand.Create(context));
        root.Subcommands.Add(BenchCommand.CreatePointVerb(context));
        root.Subcommands.Add(ErfCommand.Create(context));
        root.Subcommands.Add(CamCommand.Create(context));
        root.Subcommands.Add(ExportCommand.Create(context));
        root.Subcommands.Add(AttentionCommand.Create(context));
        root.Options.Add(KernelsOption());
        return root;
    }

    /// <summary>The kernel switchboard (<see cref="KernelOptions.Parse"/>), on every verb.</summary>
    static Option<string> KernelsOption() => new("--kernels")
    {
        Description = "fast paths to allow, e.g. gemm=off,interop=off or reference (docs/kernel-options.md)",
        Recursive = true,
    };

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (0 = success). Usable in-process (tests).</summary>
    public static int Run(string[] args, CliContext? context = null)
    {
        context ??= CliContext.FromConsole();
        var parse = Build(context).Parse(args);
        KernelOptions kernels;
        try { kernels = KernelOptions.Parse(parse.GetValue<string>("--kernels") ?? "", KernelOptions.Current); }   // on top of the process default (a host, or the tests, may set it)
        catch (FormatException e)
        {
            context.Error.WriteLine($"error: --kernels: {e.Message}");
            return 1;
        }
        // An ambient scope, not the process default: in-process callers (tests) keep their own options.
        using var scope = KernelOptions.Use(kernels);
        return parse.Invoke(new InvocationConfiguration { Output = context.Out, Error = context.Error, ProcessTerminationTimeout = null });
    }
}
