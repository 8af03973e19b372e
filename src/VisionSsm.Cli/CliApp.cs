using System.CommandLine;
using VisionSsm.Models;
using VisionSsm.Runtime;

namespace VisionSsm.Cli;

/// <summary>The `vssm` command tree: a thin layer over the library; each verb lives in its own file.</summary>
public static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("VisionSsm: state-space vision backbones (VMamba, Vim, vGamba) on TorchSharp.");
        root.Subcommands.Add(ModelsCommand());
        return root;
    }

    static Command ModelsCommand()
    {
        var cmd = new Command("models", "List the model zoo.");
        cmd.SetAction(_ =>
        {
            NativeLibraryCheck.EnsureLoaded();
            foreach (var e in ModelZoo.Entries) Console.WriteLine($"{e.Name,-28} {e.Family,-10} {e.DefaultImageSize}px  {e.Description}");
            return 0;
        });
        return cmd;
    }
}
