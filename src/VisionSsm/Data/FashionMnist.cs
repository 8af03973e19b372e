namespace VisionSsm.Data;

/// <summary>Fashion-MNIST (Xiao et al. 2017) as installed by Debian's <c>dataset-fashion-mnist</c> package:
/// gzipped idx files in <see cref="DefaultDirectory"/>, 60k train / 10k test 28×28 grayscale images.</summary>
public static class FashionMnist
{
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    public const string DebianPackage = "dataset-fashion-mnist";

    /// <summary>The one command that installs the data set (with sudo unless already root).</summary>
    public static string InstallCommand =>
        (Environment.UserName == "root" ? "" : "sudo ") + $"apt-get install -y {DebianPackage}";

    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static bool IsInstalled(string directory = DefaultDirectory) => IdxSplit.HasBothSplits(directory);

    /// <summary>Throws a <see cref="FileNotFoundException"/> whose message gives the install command when the files are missing.</summary>
    public static void EnsureAvailable(string directory = DefaultDirectory)
    {
        if (IsInstalled(directory)) return;
        string hint = directory == DefaultDirectory
            ? $"Fashion-MNIST is not installed in {directory}; install it with: {InstallCommand}"
            : $"{directory} does not hold the Fashion-MNIST idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " +
              $"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]); the Debian package puts them in {DefaultDirectory}: {InstallCommand}";
        throw new FileNotFoundException(hint);
    }

    /// <summary>The train or test split with Fashion-MNIST class names.</summary>
    public static IdxDataset Load(bool train, string directory = DefaultDirectory)
    {
        EnsureAvailable(directory);
        return IdxDataset.Load(directory, train, ClassNames);
    }
}
