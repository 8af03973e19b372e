using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Segmentation.Models;

/// <summary>
/// Vim's segmentation pyramid (hustvl/Vim <c>seg/backbone/vim.py</c>, <c>VisionMambaSeg</c> with <c>if_fpn</c>, patch 16):
/// four 1/16 maps of width D become 1/4, 1/8, 1/16 and 1/32 maps: <c>fpn1</c> = ConvTranspose(2, 2) → BatchNorm →
/// GELU → ConvTranspose(2, 2); <c>fpn2</c> = ConvTranspose(2, 2); <c>fpn3</c> = identity; <c>fpn4</c> = MaxPool(2, 2).
/// The modules are registered on the backbone (keys <c>backbone.fpn1.0.weight</c>, <c>backbone.fpn1.1.running_mean</c>,
/// <c>backbone.fpn1.3.weight</c>, <c>backbone.fpn2.0.weight</c>), as upstream. Transposed convs keep PyTorch's default init.
/// </summary>
public sealed class PyramidNeck
{
    public Sequential Fpn1 { get; }
    public Sequential Fpn2 { get; }
    public Module<Tensor, Tensor> Fpn3 { get; }
    public Module<Tensor, Tensor> Fpn4 { get; }
    public int Channels { get; }

    public PyramidNeck(int channels)
    {
        Channels = channels;
        Fpn1 = Sequential(
            ("0", (Module<Tensor, Tensor>)ConvTranspose2d(channels, channels, 2, stride: 2)),
            ("1", new OwnedScalarBatchNorm2d(channels)),
            ("2", GELU()),
            ("3", ConvTranspose2d(channels, channels, 2, stride: 2)));
        Fpn2 = Sequential(("0", (Module<Tensor, Tensor>)ConvTranspose2d(channels, channels, 2, stride: 2)));
        Fpn3 = Identity();
        Fpn4 = MaxPool2d(2, stride: 2);
    }

    /// <summary>Registers fpn1–fpn4 as children of <paramref name="owner"/> (the backbone).</summary>
    public void RegisterOn(Module owner)
    {
        owner.register_module("fpn1", Fpn1);
        owner.register_module("fpn2", Fpn2);
        owner.register_module("fpn3", Fpn3);
        owner.register_module("fpn4", Fpn4);
    }

    /// <summary>Closed form: two ConvTranspose(D, D, 2) with bias in fpn1 plus its BN, one in fpn2: 3(4D² + D) + 2D.</summary>
    public static long ParameterCount(long d) => 3 * (4 * d * d + d) + 2 * d;

    /// <summary>Reduction factors relative to the input maps: 1/4, 1/2, 1, 2.</summary>
    public static readonly double[] Scales = [4, 2, 1, 0.5];

    public IReadOnlyList<Tensor> Forward(IReadOnlyList<Tensor> maps)
    {
        if (maps.Count != 4) throw new ArgumentException($"the pyramid neck takes 4 maps; got {maps.Count}.", nameof(maps));
        return [Fpn1.call(maps[0]), Fpn2.call(maps[1]), Fpn3.call(maps[2]), Fpn4.call(maps[3])];
    }
}
