namespace VisionSsm.Data;

/// <summary>Finds the MNIST-family split files in a directory: <c>train-images-idx3-ubyte[.gz]</c>,
/// <c>train-labels-idx1-ubyte[.gz]</c>, <c>t10k-images-idx3-ubyte[.gz]</c>, <c>t10k-labels-idx1-ubyte[.gz]</c>
/// (also the <c>train-images.idx3-ubyte</c> spelling of the original MNIST downloads).</summary>
public static class IdxSplit
{
    /// <summary>The (images, labels) paths of the train or test split; a clear error lists what was looked for.</summary>
    public static (string Images, string Labels) Find(string directory, bool train)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"idx data directory not found: {directory}");
        string prefix = train ? "train" : "t10k";
        string images = FindOne(directory, prefix, "images", "idx3");
        string labels = FindOne(directory, prefix, "labels", "idx1");
        return (images, labels);
    }

    /// <summary>True when both files of both splits are present.</summary>
    public static bool HasBothSplits(string directory)
    {
        try { Find(directory, true); Find(directory, false); return true; }
        catch (IOException) { return false; }
    }

    static string FindOne(string directory, string prefix, string kind, string idx)
    {
        string[] candidates =
        [
            $"{prefix}-{kind}-{idx}-ubyte", $"{prefix}-{kind}-{idx}-ubyte.gz",
            $"{prefix}-{kind}.{idx}-ubyte", $"{prefix}-{kind}.{idx}-ubyte.gz",
        ];
        foreach (var c in candidates)
        {
            string p = Path.Combine(directory, c);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException(
            $"{directory}: no {prefix} {kind} file; expected one of {string.Join(", ", candidates)}.");
    }
}
