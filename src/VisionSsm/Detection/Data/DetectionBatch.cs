using TorchSharp;
using VisionSsm.Detection.Models;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Data;

/// <summary>
/// A collated batch: normalised images (B, C, H, W) float32, zero-padded at the bottom/right to a multiple of the size
/// divisor, with each image's <see cref="ImageMeta"/>, its targets in the batch frame and its COCO image id.
/// </summary>
public sealed record DetectionBatch(Tensor Images, IReadOnlyList<ImageMeta> Metas, IReadOnlyList<DetectionTarget> Targets, IReadOnlyList<long> ImageIds)
    : IDisposable
{
    public int Size => Metas.Count;

    public void Dispose()
    {
        Images.Dispose();
        foreach (var t in Targets)
        {
            t.Boxes.Dispose();
            t.Labels.Dispose();
            t.Masks?.Dispose();
            t.IgnoredBoxes?.Dispose();
        }
    }

    /// <summary>
    /// mmdetection's <c>DetDataPreprocessor</c>: per channel (x − mean)/std, then the images are placed top-left in a
    /// zero tensor whose sides are the batch maxima rounded up to <paramref name="sizeDivisor"/> (32 for FPN's five
    /// levels). Padding after normalisation, so pad value 0 is the mean colour.
    /// </summary>
    public static DetectionBatch Collate(IReadOnlyList<DetectionSample> samples, float[] mean, float[] std, int sizeDivisor = 32, Device? device = null)
    {
        if (samples.Count == 0) throw new ArgumentException("a batch needs at least one image.", nameof(samples));
        if (sizeDivisor < 1) throw new ArgumentOutOfRangeException(nameof(sizeDivisor), sizeDivisor, "expected ≥ 1.");
        int c = samples[0].Channels;
        if (mean.Length != c && mean.Length != 1 || std.Length != mean.Length)
            throw new InvalidDataException($"the images have {c} channels; the normalisation has {mean.Length} means and {std.Length} stds.");
        int h = RoundUp(samples.Max(s => s.Height), sizeDivisor), w = RoundUp(samples.Max(s => s.Width), sizeDivisor);
        var pixels = new float[samples.Count * c * h * w];
        var metas = new List<ImageMeta>();
        var targets = new List<DetectionTarget>();
        for (int b = 0; b < samples.Count; b++)
        {
            var s = samples[b];
            if (s.Channels != c) throw new InvalidDataException($"image {s.ImageId} has {s.Channels} channels; the batch has {c}.");
            for (int ch = 0; ch < c; ch++)
            {
                float m = mean[mean.Length == 1 ? 0 : ch], sd = std[std.Length == 1 ? 0 : ch];
                for (int y = 0; y < s.Height; y++)
                {
                    int src = (ch * s.Height + y) * s.Width, dst = ((b * c + ch) * h + y) * w;
                    for (int x = 0; x < s.Width; x++) pixels[dst + x] = (s.Pixels[src + x] - m) / sd;
                }
            }
            metas.Add(new ImageMeta(s.Height, s.Width, s.OriginalHeight, s.OriginalWidth));
            targets.Add(Target(s, device));
        }
        var images = tensor(pixels, [samples.Count, c, h, w]);
        if (device is not null && device.type != DeviceType.CPU)
        {
            var moved = images.to(device);
            images.Dispose();
            images = moved;
        }
        return new DetectionBatch(images, metas, targets, samples.Select(s => s.ImageId).ToList());
    }

    static DetectionTarget Target(DetectionSample s, Device? device)
    {
        int n = s.Count;
        Tensor Put(Tensor t) => device is null || device.type == DeviceType.CPU ? t : Move(t, device);
        var boxes = Put(tensor(s.Boxes, [n, 4]));
        var labels = Put(tensor(s.Labels.Select(l => (long)l).ToArray(), [n]));
        Tensor? masks = null;
        if (s.Masks is { } m)
        {
            var flat = new byte[n * s.Height * s.Width];
            for (int i = 0; i < n; i++) m[i].CopyTo(flat, i * s.Height * s.Width);
            masks = Put(tensor(flat, [n, s.Height, s.Width], ScalarType.Byte));
        }
        var ignored = s.IgnoredBoxes.Length == 0 ? null : Put(tensor(s.IgnoredBoxes, [s.IgnoredBoxes.Length / 4, 4]));
        return new DetectionTarget(boxes, labels, masks, ignored);
    }

    static Tensor Move(Tensor t, Device device)
    {
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    static int RoundUp(int v, int d) => (v + d - 1) / d * d;
}
