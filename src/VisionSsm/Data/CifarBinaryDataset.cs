namespace VisionSsm.Data;

/// <summary>
/// The CIFAR binary format (Krizhevsky 2009, "binary version"): fixed-size records of <c>labelBytes</c> label bytes
/// followed by 3072 pixel bytes — the 32×32 red plane, then green, then blue (already CHW, row-major).
/// CIFAR-10 has 1 label byte; CIFAR-100 has 2 (coarse, fine).
/// </summary>
public class CifarBinaryDataset : IImageDataset
{
    public const int Side = 32;
    public const int PixelBytes = 3 * Side * Side;

    readonly byte[][] files;
    readonly int[] fileStart;
    readonly int labelBytes, labelOffset, recordBytes;

    /// <param name="paths">the batch files, concatenated in the given order.</param>
    /// <param name="labelBytes">label bytes per record (1 for CIFAR-10, 2 for CIFAR-100).</param>
    /// <param name="labelOffset">which label byte is the label (CIFAR-100: 0 coarse, 1 fine).</param>
    public CifarBinaryDataset(IReadOnlyList<string> paths, int labelBytes, int labelOffset, IReadOnlyList<string> classes)
    {
        if (paths.Count == 0) throw new ArgumentException("no CIFAR batch files given.", nameof(paths));
        this.labelBytes = labelBytes;
        this.labelOffset = labelOffset;
        recordBytes = labelBytes + PixelBytes;
        Classes = classes;
        files = new byte[paths.Count][];
        fileStart = new int[paths.Count + 1];
        for (int f = 0; f < paths.Count; f++)
        {
            if (!File.Exists(paths[f])) throw new FileNotFoundException($"CIFAR batch file not found: {paths[f]}", paths[f]);
            var bytes = File.ReadAllBytes(paths[f]);
            if (bytes.Length == 0 || bytes.Length % recordBytes != 0)
                throw new InvalidDataException(
                    $"{paths[f]}: {bytes.Length} bytes is not a whole number of {recordBytes}-byte CIFAR records " +
                    $"({labelBytes} label byte{(labelBytes == 1 ? "" : "s")} + {PixelBytes} pixels).");
            for (int o = 0; o < bytes.Length; o += recordBytes)
                if (bytes[o + labelOffset] >= classes.Count)
                    throw new InvalidDataException($"{paths[f]}: record {o / recordBytes} has label {bytes[o + labelOffset]}; expected < {classes.Count} classes.");
            files[f] = bytes;
            fileStart[f + 1] = fileStart[f] + bytes.Length / recordBytes;
        }
        Count = fileStart[^1];
        Paths = paths;
    }

    public int Count { get; }
    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyList<string> Paths { get; }

    public ImageSample Get(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"expected 0 ≤ index < {Count}.");
        int f = Array.BinarySearch(fileStart, index);
        if (f < 0) f = ~f - 1;
        while (fileStart[f + 1] <= index) f++;
        int o = (index - fileStart[f]) * recordBytes;
        var src = files[f].AsSpan(o + labelBytes, PixelBytes);
        var pixels = new float[PixelBytes];
        for (int i = 0; i < PixelBytes; i++) pixels[i] = src[i] / 255f;
        return new ImageSample(pixels, 3, Side, Side, files[f][o + labelOffset]);
    }

    /// <summary>Class names from a text file with one name per line (blank lines dropped), or null when absent.</summary>
    protected static IReadOnlyList<string>? ReadNames(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray() : null;

    protected static string Require(string directory, string name)
    {
        string p = Path.Combine(directory, name);
        if (!File.Exists(p)) throw new FileNotFoundException($"{directory}: missing CIFAR file {name}.", p);
        return p;
    }
}
