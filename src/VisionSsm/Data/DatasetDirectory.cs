namespace VisionSsm.Data;

/// <summary>The on-disk layouts <see cref="DatasetDirectory"/> recognises.</summary>
public enum DatasetFormat
{
    /// <summary>MNIST-family idx files (<see cref="IdxSplit"/> names).</summary>
    Idx,
    /// <summary>CIFAR-10 binary: data_batch_1..5.bin + test_batch.bin.</summary>
    Cifar10,
    /// <summary>CIFAR-100 binary: train.bin + test.bin.</summary>
    Cifar100,
    /// <summary>train/ and val|validation|test/ folders of class-per-folder images.</summary>
    ImageFolder,
}

/// <summary>Recognises a data directory's layout and opens its train or test split (what <c>--data DIR</c> accepts).</summary>
public static class DatasetDirectory
{
    public static DatasetFormat Detect(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"data directory not found: {directory}");
        if (IdxSplit.HasBothSplits(directory)) return DatasetFormat.Idx;
        if (File.Exists(Path.Combine(directory, "data_batch_1.bin")) && File.Exists(Path.Combine(directory, "test_batch.bin"))) return DatasetFormat.Cifar10;
        if (File.Exists(Path.Combine(directory, "train.bin")) && File.Exists(Path.Combine(directory, "test.bin"))) return DatasetFormat.Cifar100;
        if (Directory.Exists(Path.Combine(directory, "train")) &&
            new[] { "val", "validation", "test" }.Any(n => Directory.Exists(Path.Combine(directory, n)))) return DatasetFormat.ImageFolder;
        throw new FileNotFoundException(
            $"{directory} holds no recognised data set; expected one of: idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " +
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]); CIFAR-10 binary (data_batch_1..5.bin, test_batch.bin); " +
            "CIFAR-100 binary (train.bin, test.bin); an image folder tree (train/<class>/*.jpg and val/<class>/*.jpg).");
    }

    /// <param name="imageFolderChannels">channels of image-folder samples (0 = detect from the files).</param>
    public static IImageDataset Open(string directory, bool train, int imageFolderChannels = 3) => Detect(directory) switch
    {
        DatasetFormat.Idx => IdxDataset.Load(directory, train),
        DatasetFormat.Cifar10 => new Cifar10Dataset(directory, train),
        DatasetFormat.Cifar100 => new Cifar100Dataset(directory, train),
        _ => new ImageFolderDataset(ImageFolderDataset.SplitDirectory(directory, train), imageFolderChannels),
    };
}
