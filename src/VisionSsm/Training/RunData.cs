using VisionSsm.Data;
using VisionSsm.Data.Transforms;

namespace VisionSsm.Training;

/// <summary>
/// Opens the data a <see cref="TrainConfig"/> names and builds the recipe's transforms: the embedded default
/// (Debian's Fashion-MNIST) when <see cref="TrainConfig.Data"/> is null, otherwise a directory of idx files.
/// Normalisation statistics are the data set's own (measured on its first images; Fashion-MNIST's published ones).
/// </summary>
public static class RunData
{
    /// <summary>
    /// Loads the train and test splits of <paramref name="directory"/> (null = the default Fashion-MNIST): idx files
    /// (MNIST family), CIFAR-10 binary batches, CIFAR-100 binary, or an image folder with <c>train/</c> and
    /// <c>val/</c>|<c>test/</c> class subfolders.
    /// </summary>
    public static (IImageDataset Train, IImageDataset Test) OpenSplits(string? directory)
    {
        if (directory is null) return (FashionMnist.Load(train: true), FashionMnist.Load(train: false));
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"--data: directory '{directory}' does not exist.");
        if (IdxSplit.HasBothSplits(directory))
        {
            bool fashion = Path.GetFullPath(directory).TrimEnd('/') == FashionMnist.DefaultDirectory;
            var classes = fashion ? FashionMnist.ClassNames : null;
            return (IdxDataset.Load(directory, true, classes), IdxDataset.Load(directory, false, classes));
        }
        if (File.Exists(Path.Combine(directory, "data_batch_1.bin")))
            return (new Cifar10Dataset(directory, true), new Cifar10Dataset(directory, false));
        if (File.Exists(Path.Combine(directory, "train.bin")) && File.Exists(Path.Combine(directory, "test.bin")))
            return (new Cifar100Dataset(directory, true), new Cifar100Dataset(directory, false));
        if (Directory.Exists(Path.Combine(directory, "train")))
        {
            var train = new ImageFolderDataset(ImageFolderDataset.SplitDirectory(directory, true));
            var test = new ImageFolderDataset(ImageFolderDataset.SplitDirectory(directory, false), train.Channels);
            if (!train.Classes.SequenceEqual(test.Classes))
                throw new InvalidDataException($"--data: the train and evaluation folders of '{directory}' have different class folders.");
            return (train, test);
        }
        throw new FileNotFoundException(
            $"--data: '{directory}' holds no recognised data set; expected idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " +
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), CIFAR-10 (data_batch_1..5.bin, test_batch.bin), " +
            "CIFAR-100 (train.bin, test.bin) or an image folder (train/<class>/*.jpg and val/ or test/).");
    }

    /// <summary>The train/test data of <paramref name="config"/> with its augmentation recipe (timm create_transform + Mixup/CutMix).</summary>
    public static TrainingData Open(TrainConfig config, Preprocessing? preprocessing = null)
    {
        var (train, test) = OpenSplits(config.Data);
        if (train.Count == 0) throw new InvalidDataException("the training split is empty.");
        if (test.Count == 0) throw new InvalidDataException("the test split is empty.");
        preprocessing ??= DerivePreprocessing(train, config.ImageSize, config.Data is null);
        var options = preprocessing.ToTransformOptions() with
        {
            Padding = config.CropPadding,
            HFlip = config.HFlip ? 0.5 : 0,
            RandAugment = config.AutoAugment,
            ReProb = config.ReProb,
            // Small-image recipe: resize (if needed) + pad-crop; ImageNet-style: RandomResizedCrop.
        };
        IBatchTransform? mix = config.Mixup > 0 || config.CutMix > 0
            ? new Mixup(config.Mixup, config.CutMix, labelSmoothing: config.Smoothing)
            : null;
        return new TrainingData(train, test, preprocessing, TransformFactory.Train(options), preprocessing.EvalTransform(), mix);
    }

    /// <summary>Channels and size of the data (or <paramref name="imageSize"/>), and per-channel mean/std over up to 2000 images.</summary>
    public static Preprocessing DerivePreprocessing(IImageDataset train, int? imageSize, bool fashionMnist = false)
    {
        var first = train.Get(0);
        int c = first.Channels;
        int size = imageSize ?? first.Height;
        bool small = size <= 64;
        if (fashionMnist) return new Preprocessing(c, size, Normalize.FashionMnistMean, Normalize.FashionMnistStd);
        var sum = new double[c];
        var sq = new double[c];
        long n = 0;
        for (int i = 0; i < Math.Min(train.Count, 2000); i++)
        {
            ImageSample s;
            try { s = train.Get(i); } catch (ImageReadException) { continue; }
            if (s.Channels != c) continue;
            int plane = s.Height * s.Width;
            for (int ch = 0; ch < c; ch++)
                for (int k = 0; k < plane; k++) { double v = s.Pixels[ch * plane + k]; sum[ch] += v; sq[ch] += v * v; }
            n += plane;
        }
        var mean = new float[c];
        var std = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            double m = sum[ch] / Math.Max(n, 1);
            mean[ch] = (float)m;
            std[ch] = (float)Math.Max(Math.Sqrt(Math.Max(sq[ch] / Math.Max(n, 1) - m * m, 0)), 1e-3);
        }
        return small ? new Preprocessing(c, size, mean, std) : new Preprocessing(c, size, mean, std, SmallImage: false, CropPct: 0.875);
    }
}
