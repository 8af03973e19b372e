namespace VisionSsm.Data;

/// <summary>A labelled image data set with random access (idx files, CIFAR batches, image folders, …).</summary>
public interface IImageDataset
{
    int Count { get; }

    /// <summary>Class names, indexed by label.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Decodes item <paramref name="index"/>. A corrupt or unreadable item throws <see cref="ImageReadException"/>.</summary>
    ImageSample Get(int index);
}

/// <summary>An item that cannot be read or decoded; <see cref="Path"/> names the file (and entry) at fault.</summary>
public sealed class ImageReadException(string path, string message, Exception? inner = null)
    : Exception($"{path}: {message}", inner)
{
    public string Path { get; } = path;
}
