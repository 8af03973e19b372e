using System.CommandLine;
using VisionSsm.Runtime;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>Options every verb takes (--threads, --device) and the shared error handling.</summary>
static class CommonOptions
{
    public static Option<int> Threads() => new("--threads") { Description = "libtorch + kernel threads (0 = every core)", DefaultValueFactory = _ => 0 };
    public static Option<string> Device() => new("--device") { Description = "cpu (TorchSharp-cpu build), or cuda[:N] where available", DefaultValueFactory = _ => "cpu" };

    public static void Add(Command cmd, Option<int> threads, Option<string> device)
    {
        cmd.Options.Add(threads);
        cmd.Options.Add(device);
    }

    /// <summary>Applies --threads and validates --device; returns the device.</summary>
    public static TorchSharp.torch.Device Apply(ParseResult parse, Option<int> threads, Option<string> device)
    {
        int n = parse.GetValue(threads);
        if (n < 0) throw new ArgumentException($"--threads {n}: expected 0 (every core) or a positive count.", "threads");
        TorchRuntime.SetThreads(n);
        return Trainer.ParseDevice(parse.GetValue(device)!);
    }

    /// <summary>Runs a verb: known failures become one "error: …" line on stderr and exit code 1 (never a stack trace).</summary>
    public static int Guard(CliContext ctx, Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or CheckpointMismatchException
                                      or NonFiniteLossException or NotSupportedException or UnauthorizedAccessException
                                      or InvalidOperationException or FormatException)
        {
            ctx.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            ctx.Error.WriteLine("cancelled.");
            return 130;
        }
    }

    public static int[] ParseInts(string text, string option)
    {
        try { return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray(); }
        catch (FormatException) { throw new ArgumentException($"{option} '{text}': expected comma-separated integers, e.g. 224,384.", option.TrimStart('-')); }
    }
}
