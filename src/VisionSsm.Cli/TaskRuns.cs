using System.CommandLine;
using VisionSsm.Training;

namespace VisionSsm.Cli;

/// <summary>What the task training verbs (`segment train`, `detect train`) share: the --resume rule and the run folder.</summary>
static class TaskRuns
{
    /// <summary>A task verb (`segment`, `detect`) with its train, eval and predict subcommands.</summary>
    public static Command Verb(string name, string description, params Command[] subcommands)
    {
        var cmd = new Command(name, description);
        foreach (var c in subcommands) cmd.Subcommands.Add(c);
        return cmd;
    }

    /// <summary>
    /// The run folder to continue (--resume): refuses any option outside <paramref name="allowed"/> that the user gave,
    /// since a resumed run keeps the recipe in its checkpoint.
    /// </summary>
    public static RunFolder ForResume(ParseResult p, string resumePath, IEnumerable<Option> all, Option[] allowed)
    {
        if (all.Except(allowed).FirstOrDefault(o => p.GetResult(o) is { Implicit: false }) is { } given)
            throw new ArgumentException($"{given.Name} cannot change on --resume: the run continues with the recipe in its checkpoint " +
                                        $"(only {string.Join(", ", allowed.Where(o => o.Name != "--resume").Select(o => o.Name))} and --threads may be given).", given.Name);
        return RunFolder.OpenExisting(resumePath);
    }

    /// <summary>The folder of a new run: --output (which must not hold a run yet) or runs/&lt;time&gt;-&lt;prefix&gt;&lt;model&gt;.</summary>
    public static RunFolder ForNew(string? output, string prefix, string model)
    {
        if (output is null) return RunFolder.CreateNew("runs", prefix + model);
        var run = new RunFolder(output);
        if (File.Exists(run.LastCheckpointPath))
            throw new ArgumentException($"--output '{output}' already holds a run (last.ckpt); continue it with --resume {output} or choose another folder.", "output");
        return run;
    }
}
