using VisionSsm.Detection.Models;
using static TorchSharp.torch;

namespace VisionSsm.Detection.Inference;

/// <summary>
/// The detections of one image as C# arrays, in the original image's pixels: boxes k·4 (x1, y1, x2, y2), scores,
/// contiguous labels, and one H·W mask (0/1 bytes) per detection when the detector predicts masks.
/// </summary>
public sealed record DetectionList(double[] Boxes, double[] Scores, long[] Labels, byte[][]? Masks, int Height, int Width)
{
    public int Count => Scores.Length;

    /// <summary>Copies <paramref name="d"/> (tensors of one image, <paramref name="height"/>×<paramref name="width"/>) to the host.</summary>
    public static DetectionList From(Detections d, int height, int width)
    {
        var scores = HostArrays.Doubles(d.Scores);
        int k = scores.Length;
        var boxes = HostArrays.Doubles(d.Boxes);
        var labels = HostArrays.Longs(d.Labels);
        if (boxes.Length != 4 * k || labels.Length != k)
            throw new InvalidOperationException($"the detector returned {boxes.Length / 4.0} boxes, {k} scores and {labels.Length} labels for one image; expected equal counts.");
        byte[][]? masks = null;
        if (d.Masks is { } m)
        {
            if (m.shape.Length != 3 || m.shape[0] != k || m.shape[1] != height || m.shape[2] != width)
                throw new InvalidOperationException($"the detector returned masks of shape [{string.Join(", ", m.shape)}]; expected [{k}, {height}, {width}] (the original image size).");
            masks = new byte[k][];
            if (k > 0)
            {
                using var bytes = m.detach().cpu().to(ScalarType.Byte).contiguous();
                var all = bytes.data<byte>().ToArray();
                for (int i = 0; i < k; i++) masks[i] = all.AsSpan(i * height * width, height * width).ToArray();
            }
        }
        return new DetectionList(boxes, scores, labels, masks, height, width);
    }
}
