using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>mmseg's <c>resize</c> as the heads call it: bilinear, <c>align_corners=False</c>.</summary>
public static class Resize
{
    /// <summary><paramref name="x"/> (B, C, h, w) resized to <paramref name="height"/>×<paramref name="width"/>; the same tensor when the size already matches.</summary>
    public static Tensor Bilinear(Tensor x, long height, long width) =>
        x.shape[2] == height && x.shape[3] == width ? x.alias()
            : functional.interpolate(x, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false);

    /// <summary><paramref name="x"/> resized to the spatial size of <paramref name="like"/>.</summary>
    public static Tensor Like(Tensor x, Tensor like) => Bilinear(x, like.shape[2], like.shape[3]);
}
