using VisionSsm.Data;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>An input image for an analysis: its name (file or data-set item) and the decoded pixels.</summary>
public sealed record NamedImage(string Name, ImageSample Image);

/// <summary>
/// Where an analysis takes its images: files, a directory of image files (sorted by path, sub-folders included), a
/// data set's test split (<see cref="RunData.OpenSplits"/>: null directory = the default Fashion-MNIST), or — none of
/// these — random noise.
/// </summary>
public sealed record AnalysisInputs(IReadOnlyList<string>? Files = null, string? Directory = null, bool Data = false, string? DataDirectory = null)
{
    public bool IsNoise => (Files is null || Files.Count == 0) && Directory is null && !Data;

    /// <summary>
    /// Up to <paramref name="count"/> images (all of <see cref="Files"/>). A file that does not decode throws an
    /// <see cref="InvalidDataException"/> naming it; an empty source throws too. Noise yields nothing (see <see cref="Tensors"/>).
    /// </summary>
    public IReadOnlyList<NamedImage> Load(int count)
    {
        if (count < 1) throw new ArgumentException($"--count {count}: expected ≥ 1.", "count");
        int sources = (Files is { Count: > 0 } ? 1 : 0) + (Directory is null ? 0 : 1) + (Data ? 1 : 0);
        if (sources > 1) throw new ArgumentException("give one image source: --image, --images or --data.", "images");
        if (Files is { Count: > 0 })
            return Files.Select(f => new NamedImage(Path.GetFileNameWithoutExtension(f), Decode(f))).ToList();
        if (Directory is not null)
        {
            if (!System.IO.Directory.Exists(Directory)) throw new DirectoryNotFoundException($"--images: directory '{Directory}' does not exist.");
            var files = System.IO.Directory.EnumerateFiles(Directory, "*", SearchOption.AllDirectories)
                .Where(ImageDecoder.IsImageFile).OrderBy(f => f, StringComparer.Ordinal).Take(count).ToList();
            if (files.Count == 0)
                throw new FileNotFoundException($"--images: '{Directory}' holds no image files ({string.Join(", ", ImageDecoder.Extensions)}).");
            return files.Select(f => new NamedImage(Path.GetFileNameWithoutExtension(f), Decode(f))).ToList();
        }
        if (Data)
        {
            var (_, test) = RunData.OpenSplits(DataDirectory);
            if (test.Count == 0) throw new InvalidDataException("--data: the test split is empty.");
            var result = new List<NamedImage>();
            for (int i = 0; i < test.Count && result.Count < count; i++)
            {
                ImageSample s;
                try { s = test.Get(i); }
                catch (ImageReadException) { continue; }
                result.Add(new NamedImage($"test{i}-{test.Classes[s.Label]}", s));
            }
            return result;
        }
        return [];
    }

    /// <summary>
    /// The model inputs (1, C, S, S): the images through <paramref name="preprocessing"/>'s evaluation transform, or
    /// <paramref name="count"/> standard-normal noise images (seeded) when no source is given.
    /// </summary>
    public IEnumerable<Tensor> Tensors(int count, Training.Preprocessing preprocessing, ScalarType dtype, Device? device = null, int seed = 0)
    {
        if (IsNoise)
        {
            if (count < 1) throw new ArgumentException($"--count {count}: expected ≥ 1.", "count");
            var generator = new TorchSharp.torch.Generator((ulong)seed);
            for (int i = 0; i < count; i++)
                yield return randn([1, preprocessing.Channels, preprocessing.ImageSize, preprocessing.ImageSize], dtype: dtype, generator: generator).to(device ?? CPU);
            yield break;
        }
        var transform = preprocessing.EvalTransform();
        foreach (var image in Load(count))
            yield return ToTensor(transform.Apply(image.Image, new Random(0)), dtype, device);
    }

    /// <summary>A transformed sample as a (1, C, H, W) tensor.</summary>
    public static Tensor ToTensor(ImageSample s, ScalarType dtype, Device? device = null) =>
        tensor(s.Pixels, [1, s.Channels, s.Height, s.Width]).to(dtype, device ?? CPU);

    static ImageSample Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--image: '{path}' does not exist.", path);
        try { return ImageDecoder.Decode(path); }
        catch (ImageReadException e) { throw new InvalidDataException($"--image: {e.Message}", e); }
    }
}
