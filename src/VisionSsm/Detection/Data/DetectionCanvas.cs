using VisionSsm.Data;
using VisionSsm.Detection.Coco;
using VisionSsm.Segmentation.Data;

namespace VisionSsm.Detection.Data;

/// <summary>One annotated item of a detection canvas: Fashion-MNIST class (0–9), the tight box around its visible ink
/// (x1, y1 inclusive; x2, y2 exclusive: pixel edges), its visible-ink mask (H·W bytes 0/1), visible and full ink pixels.</summary>
public sealed record CanvasInstance(int ClassIndex, int X1, int Y1, int X2, int Y2, byte[] Mask, int Visible, int Ink);

/// <summary>
/// Instances on the Fashion-MNIST canvases (docs/detection.md §8.1). A canvas is planned and drawn exactly as the
/// segmentation composer does (<see cref="FashionMnistCanvas"/>: same generator, order and ink rule), with the
/// detection settings of <see cref="DetectionCanvasOptions"/>; each item's instance mask is the ink it still shows
/// after later items are drawn over it, and its box is the tightest box around that mask. An item showing less than
/// <see cref="DetectionCanvasOptions.MinVisibleFraction"/> of its ink is not annotated (its visible pixels stay in the
/// image). Category id = Fashion-MNIST class + 1.
/// </summary>
public static class DetectionCanvas
{
    /// <summary>COCO categories: id k + 1 for Fashion-MNIST class k, named as Fashion-MNIST names it.</summary>
    public static IReadOnlyList<CocoCategory> Categories { get; } =
        FashionMnist.ClassNames.Select((n, k) => new CocoCategory(k + 1, n, "fashion", k)).ToList();

    /// <summary>The gray canvas <paramref name="index"/> of <paramref name="canvases"/> and its annotated instances in drawing order.</summary>
    public static (float[] Gray, IReadOnlyList<CanvasInstance> Instances) Compose(CanvasDataset canvases, int index, double minVisibleFraction)
    {
        var items = canvases.Items(index);
        var (gray, owner) = canvases.Compose(index);
        int size = canvases.Options.Size;
        var result = new List<CanvasInstance>();
        for (int k = 0; k < items.Count; k++)
        {
            byte id = (byte)(k + 1);
            var mask = new byte[owner.Length];
            int visible = 0, x1 = size, y1 = size, x2 = 0, y2 = 0;
            for (int p = 0; p < owner.Length; p++)
            {
                if (owner[p] != id) continue;
                mask[p] = 1;
                visible++;
                int y = p / size, x = p % size;
                (x1, y1, x2, y2) = (Math.Min(x1, x), Math.Min(y1, y), Math.Max(x2, x + 1), Math.Max(y2, y + 1));
            }
            int ink = canvases.InkPixels(items[k]);
            if (visible == 0 || visible < minVisibleFraction * ink) continue;
            result.Add(new CanvasInstance(items[k].ClassIndex, x1, y1, x2, y2, mask, visible, ink));
        }
        return (gray, result);
    }
}
