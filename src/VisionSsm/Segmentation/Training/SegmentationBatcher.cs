using TorchSharp;
using VisionSsm.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Segmentation.Data.Transforms;
using static TorchSharp.torch;

namespace VisionSsm.Segmentation.Training;

/// <summary>A batch: normalised images (B, C, H, W) float32 and label maps (B, H, W) int64.</summary>
public sealed record SegmentationBatch(Tensor Images, Tensor Masks) : IDisposable
{
    public long Size => Images.shape[0];
    public void Dispose()
    {
        Images.Dispose();
        Masks.Dispose();
    }
}

/// <summary>
/// Turns samples into batches: the training pipeline (random resize by a ratio in [min, max], random crop to the crop
/// side — padding with 0 and the ignore label when smaller, as mmseg's <c>Pad</c> — and a random horizontal flip, all
/// applied to image and mask together), normalisation by per-channel mean/std, and collation. Repeatable: sample i of
/// iteration t draws from a <see cref="Random"/> seeded by (seed, t, i), and the sampler's order by (seed, pass).
/// </summary>
public sealed class SegmentationBatcher
{
    readonly ISegmentationDataset dataset;
    readonly SegmentationTrainConfig config;
    readonly int crop;
    SegmentationPipeline? ade;
    public float[] Mean { get; }
    public float[] Std { get; }

    public SegmentationBatcher(ISegmentationDataset dataset, SegmentationTrainConfig config, int cropSize, float[] mean, float[] std)
    {
        (this.dataset, this.config, crop, Mean, Std) = (dataset, config, cropSize, mean, std);
    }

    /// <summary>The dataset indices of training iteration <paramref name="step"/>: consecutive slices of seeded permutations.</summary>
    public int[] Indices(long step) => (order ??= new SeededOrder(dataset.Count, config.Seed, 11)).Indices(step, config.BatchSize);

    SeededOrder? order;

    /// <summary>The training batch of iteration <paramref name="step"/> (samples prepared in parallel, tensors on the caller's thread).</summary>
    public SegmentationBatch Train(long step, Device? device = null)
    {
        var idx = Indices(step);
        var samples = new SegmentationSample[idx.Length];
        try
        {
            Parallel.For(0, idx.Length, k =>
            {
                var rng = SeedMixer.Rng(config.Seed, step, k, 13);
                samples[k] = Augment(dataset.Get(idx[k]), rng);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // A bad file surfaces as its own error (naming the path), not as a parallel-loop wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        return Collate(samples, device);
    }

    /// <summary>
    /// The train pipeline on one sample (docs/segmentation.md §4). With a resize ratio range (the ADE20K recipes) it is
    /// mmseg's ADE20K pipeline (<see cref="SegmentationPipeline.Train"/>: RandomResize to scale (4·crop, crop) × ratio,
    /// RandomCrop with cat_max_ratio 0.75, flip, photometric distortion, pad with 0 / 255); otherwise crop-or-pad to the
    /// crop and a flip.
    /// </summary>
    public SegmentationSample Augment(SegmentationSample s, Random rng)
    {
        if (config.MinScale != 1 || config.MaxScale != 1)
        {
            ade ??= SegmentationPipeline.Train(crop, crop, 4 * crop, crop, minRatio: config.MinScale, maxRatio: config.MaxScale);
            return ade.Apply(s, rng);
        }
        s = CropOrPad(s, crop, crop, rng);
        if (config.HFlip && rng.NextDouble() < 0.5) s = Flip(s);
        return s;
    }

    /// <summary>Normalises and stacks same-sized samples.</summary>
    public SegmentationBatch Collate(IReadOnlyList<SegmentationSample> samples, Device? device = null)
    {
        var first = samples[0];
        int c = first.Channels, h = first.Height, w = first.Width, plane = h * w;
        if (Mean.Length != c && Mean.Length != 1)
            throw new InvalidDataException($"the images have {c} channels; the normalisation has {Mean.Length}.");
        var pixels = new float[samples.Count * c * plane];
        var masks = new long[samples.Count * plane];
        for (int b = 0; b < samples.Count; b++)
        {
            var s = samples[b];
            if (s.Channels != c || s.Height != h || s.Width != w)
                throw new InvalidDataException($"batch items differ in shape: ({s.Channels}, {s.Height}, {s.Width}) vs ({c}, {h}, {w}).");
            for (int ch = 0; ch < c; ch++)
            {
                float m = Mean[Mean.Length == 1 ? 0 : ch], sd = Std[Std.Length == 1 ? 0 : ch];
                int src = ch * plane, dst = (b * c + ch) * plane;
                for (int i = 0; i < plane; i++) pixels[dst + i] = (s.Pixels[src + i] - m) / sd;
            }
            for (int i = 0; i < plane; i++) masks[b * plane + i] = s.Mask[i];
        }
        var images = tensor(pixels, [samples.Count, c, h, w]);
        var labels = tensor(masks, [samples.Count, h, w]);
        if (device is not null && device.type != DeviceType.CPU)
        {
            var (i2, l2) = (images.to(device), labels.to(device));
            images.Dispose();
            labels.Dispose();
            (images, labels) = (i2, l2);
        }
        return new SegmentationBatch(images, labels);
    }

    /// <summary>Bilinear image, nearest-neighbour mask (mmseg's <c>Resize</c>).</summary>
    public static SegmentationSample ResizeSample(SegmentationSample s, int h, int w)
    {
        if (h == s.Height && w == s.Width) return s;
        var pixels = new float[s.Channels * h * w];
        var mask = new byte[h * w];
        double sy = (double)s.Height / h, sx = (double)s.Width / w;
        for (int y = 0; y < h; y++)
        {
            double fy = Math.Clamp((y + 0.5) * sy - 0.5, 0, s.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, s.Height - 1);
            double ay = fy - y0;
            int ny = Math.Min((int)((y + 0.5) * sy), s.Height - 1);
            for (int x = 0; x < w; x++)
            {
                double fx = Math.Clamp((x + 0.5) * sx - 0.5, 0, s.Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, s.Width - 1);
                double ax = fx - x0;
                for (int c = 0; c < s.Channels; c++)
                {
                    int p = c * s.Height * s.Width;
                    double v = (1 - ay) * ((1 - ax) * s.Pixels[p + y0 * s.Width + x0] + ax * s.Pixels[p + y0 * s.Width + x1])
                               + ay * ((1 - ax) * s.Pixels[p + y1 * s.Width + x0] + ax * s.Pixels[p + y1 * s.Width + x1]);
                    pixels[c * h * w + y * w + x] = (float)v;
                }
                int nx = Math.Min((int)((x + 0.5) * sx), s.Width - 1);
                mask[y * w + x] = s.Mask[ny * s.Width + nx];
            }
        }
        return new SegmentationSample(pixels, s.Channels, h, w, mask);
    }

    /// <summary>A random h×w window; where the sample is smaller, image padding 0 and mask padding 255 (ignore) at the bottom/right.</summary>
    public static SegmentationSample CropOrPad(SegmentationSample s, int h, int w, Random rng)
    {
        if (s.Height == h && s.Width == w) return s;
        int oy = s.Height > h ? rng.Next(s.Height - h + 1) : 0, ox = s.Width > w ? rng.Next(s.Width - w + 1) : 0;
        var pixels = new float[s.Channels * h * w];
        var mask = new byte[h * w];
        Array.Fill(mask, SegmentationLabels.IgnoreIndex);
        for (int y = 0; y < h && y + oy < s.Height; y++)
            for (int x = 0; x < w && x + ox < s.Width; x++)
            {
                for (int c = 0; c < s.Channels; c++) pixels[c * h * w + y * w + x] = s.Pixels[c * s.Height * s.Width + (y + oy) * s.Width + x + ox];
                mask[y * w + x] = s.Mask[(y + oy) * s.Width + x + ox];
            }
        return new SegmentationSample(pixels, s.Channels, h, w, mask);
    }

    public static SegmentationSample Flip(SegmentationSample s)
    {
        var pixels = new float[s.Pixels.Length];
        var mask = new byte[s.Mask.Length];
        for (int y = 0; y < s.Height; y++)
            for (int x = 0; x < s.Width; x++)
            {
                int src = y * s.Width + x, dst = y * s.Width + s.Width - 1 - x;
                mask[dst] = s.Mask[src];
                for (int c = 0; c < s.Channels; c++) pixels[c * s.Height * s.Width + dst] = s.Pixels[c * s.Height * s.Width + src];
            }
        return new SegmentationSample(pixels, s.Channels, s.Height, s.Width, mask);
    }
}
