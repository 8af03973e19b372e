using System.CommandLine;
using System.Globalization;
using VisionSsm.Analysis;

namespace VisionSsm.Cli;

/// <summary>The options `erf` and `cam` share: model, checkpoint, size, image source, count, output folder.</summary>
sealed class AnalysisOptions
{
    public readonly Option<int?> Size = new("--size") { Description = "input side (default: the checkpoint's or the zoo entry's size)" };
    public readonly Option<string[]> Image = new("--image") { Description = "an image file (repeatable)", AllowMultipleArgumentsPerToken = true };
    public readonly Option<string> Images = new("--images") { Description = "a directory of image files (sorted by path; the first --count)" };
    public readonly Option<string> Data = new("--data")
    {
        Description = "a data set's test split: a directory train knows (idx, CIFAR, image folder); without a value the default Fashion-MNIST",
        Arity = ArgumentArity.ZeroOrOne,
    };
    public readonly Option<int> Count = new("--count", "-n") { Description = "images (or noise inputs) to use", DefaultValueFactory = _ => 0 };
    public readonly Option<string> Output = new("--output", "-o") { Description = "output folder (default runs/<verb>-<time>)" };
    public readonly Option<int> Seed = new("--seed") { Description = "seed of the random initialisation and of the noise inputs", DefaultValueFactory = _ => 0 };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Size, Image, Images, Data, Count, Output, Seed }) cmd.Options.Add(o);
    }

    public AnalysisInputs Inputs(ParseResult p)
    {
        bool data = p.GetResult(Data) is not null;
        return new AnalysisInputs(p.GetValue(Image), p.GetValue(Images), data, data ? p.GetValue(Data) : null);
    }

    /// <summary>--count, defaulting to <paramref name="fallback"/> (all --image files when given).</summary>
    public int CountOf(ParseResult p, int fallback)
    {
        int n = p.GetValue(Count);
        if (n < 0) throw new ArgumentException($"--count {n}: expected ≥ 1.", "count");
        if (n == 0) n = p.GetValue(Image) is { Length: > 0 } files ? files.Length : fallback;
        return n;
    }

    public string OutputOf(ParseResult p, string verb) =>
        p.GetValue(Output) ?? Path.Combine("runs", $"{verb}-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");

    public static string[] List(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
