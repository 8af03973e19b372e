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
    /// <summary>Loads the train and test splits of <paramref name="directory"/> (null = the default Fashion-MNIST).</summary>
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
        throw new FileNotFoundException(
            $"--data: '{directory}' holds no recognised data set; expected idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " +
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]).");
    }

    /// <summary>The train/test data of <paramref name="config"/> with its augmentation recipe.</summary>
    public static TrainingData Open(TrainConfig config, Preprocessing? preprocessing = null)
    {
        var (train, test) = OpenSplits(config.Data);
        if (train.Count == 0) throw new InvalidDataException("the training split is empty.");
        preprocessing ??= DerivePreprocessing(train, config.ImageSize, config.Data is null);
        var trainTransforms = new List<ISampleTransform>();
        var first = train.Get(0);
        if (first.Channels != preprocessing.Channels) trainTransforms.Add(new ConvertChannels(preprocessing.Channels));
        if (first.Height != preprocessing.ImageSize || first.Width != preprocessing.ImageSize)
            trainTransforms.Add(new ResizeCenterCrop(preprocessing.ImageSize, 1.0, Interpolation.Bilinear));
        if (config.CropPadding > 0) trainTransforms.Add(new PadRandomCrop(config.CropPadding));
        if (config.HFlip) trainTransforms.Add(new RandomHorizontalFlip());
        if (config.AutoAugment is not null || config.ReProb > 0 || config.Mixup > 0 || config.CutMix > 0)
            throw new NotSupportedException("--aa, --reprob, --mixup and --cutmix need the data augmentations, which are not available in this build.");
        trainTransforms.Add(new Normalize(preprocessing.Mean, preprocessing.Std));
        return new TrainingData(train, test, preprocessing, new Compose(trainTransforms), preprocessing.EvalTransform());
    }

    /// <summary>Channels and size of the data (or <paramref name="imageSize"/>), and per-channel mean/std over up to 2000 images.</summary>
    public static Preprocessing DerivePreprocessing(IImageDataset train, int? imageSize, bool fashionMnist = false)
    {
        var first = train.Get(0);
        int c = first.Channels;
        int size = imageSize ?? first.Height;
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
        return new Preprocessing(c, size, mean, std);
    }
}
