namespace VisionSsm.Data;

/// <summary>CIFAR-10 binary version (<c>cifar-10-batches-bin/</c>): <c>data_batch_1..5.bin</c> (train, 50k),
/// <c>test_batch.bin</c> (10k), class names from <c>batches.meta.txt</c> (else the standard names).</summary>
public sealed class Cifar10Dataset(string directory, bool train)
    : CifarBinaryDataset(Files(directory, train), labelBytes: 1, labelOffset: 0,
        ReadNames(Path.Combine(directory, "batches.meta.txt")) ?? DefaultClasses)
{
    public static readonly IReadOnlyList<string> DefaultClasses =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    static string[] Files(string directory, bool train)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"CIFAR-10 directory not found: {directory}");
        return train
            ? Enumerable.Range(1, 5).Select(i => Require(directory, $"data_batch_{i}.bin")).ToArray()
            : [Require(directory, "test_batch.bin")];
    }
}
