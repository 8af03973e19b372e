using System.Globalization;

namespace VisionSsm.Data;

/// <summary>CIFAR-100 binary version (<c>cifar-100-binary/</c>): <c>train.bin</c> (50k) and <c>test.bin</c> (10k),
/// records with a coarse and a fine label byte; names from <c>fine_label_names.txt</c> / <c>coarse_label_names.txt</c>
/// (else "0".."99").</summary>
public sealed class Cifar100Dataset(string directory, bool train, bool coarseLabels = false)
    : CifarBinaryDataset([File(directory, train)], labelBytes: 2, labelOffset: coarseLabels ? 0 : 1, Names(directory, coarseLabels))
{
    static string File(string directory, bool train)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"CIFAR-100 directory not found: {directory}");
        return Require(directory, train ? "train.bin" : "test.bin");
    }

    static IReadOnlyList<string> Names(string directory, bool coarse)
    {
        int count = coarse ? 20 : 100;
        var names = ReadNames(Path.Combine(directory, coarse ? "coarse_label_names.txt" : "fine_label_names.txt"))
            ?? Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (names.Count != count)
            throw new InvalidDataException($"{directory}: the label-names file lists {names.Count} names; CIFAR-100 has {count} {(coarse ? "coarse" : "fine")} classes.");
        return names;
    }
}
