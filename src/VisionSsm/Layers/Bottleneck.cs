using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// The ResNet bottleneck (expansion 4) shared by ResNet-50/101, BoT50 and vGamba: conv1 1×1 → BN → ReLU → conv2 →
/// BN → ReLU → conv3 1×1 (P → 4P) → BN, plus the shortcut, then ReLU. <c>conv2</c> is pluggable: torchvision's
/// 3×3 conv with the stride (ResNet v1.5), or BoTNet/vGamba's <c>Sequential(mixer[, AvgPool2d(2, 2)])</c>
/// (docs/models/vgamba.md §2). The projection shortcut (used when stride ≠ 1 or in ≠ 4P) is named
/// <c>downsample</c> and has no conv bias in torchvision, and is named <c>shortcut</c> with a biased conv in the
/// BoTNet/vGamba code (PyTorch's default bias = True).
/// </summary>
public sealed class Bottleneck : Module<Tensor, Tensor>
{
    public const int Expansion = 4;

    private readonly Conv2d conv1;
    private readonly OwnedScalarBatchNorm2d bn1;
    private readonly Module<Tensor, Tensor> conv2;
    private readonly OwnedScalarBatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly OwnedScalarBatchNorm2d bn3;
    private readonly Conv2d? projectionConv;
    private readonly Module<Tensor, Tensor>? projectionNorm;

    /// <summary>The 3×3 conv2 of torchvision's Bottleneck (stride on the 3×3, ResNet v1.5), no bias.</summary>
    public static Conv2d Conv3x3(int planes, int stride) => Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);

    public Bottleneck(int inPlanes, int planes, int stride, Module<Tensor, Tensor> conv2,
        string shortcutName = "downsample", bool shortcutBias = false) : base(nameof(Bottleneck))
    {
        conv1 = Conv2d(inPlanes, planes, 1, bias: false);
        bn1 = new OwnedScalarBatchNorm2d(planes);
        this.conv2 = conv2;
        bn2 = new OwnedScalarBatchNorm2d(planes);
        conv3 = Conv2d(planes, planes * Expansion, 1, bias: false);
        bn3 = new OwnedScalarBatchNorm2d(planes * Expansion);
        // Registered one by one (not RegisterComponents) because the shortcut's key depends on the lineage.
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("conv3", conv3);
        register_module("bn3", bn3);
        if (stride != 1 || inPlanes != planes * Expansion)
        {
            projectionConv = Conv2d(inPlanes, planes * Expansion, 1, stride: stride, bias: shortcutBias);
            projectionNorm = new OwnedScalarBatchNorm2d(planes * Expansion);
            register_module(shortcutName, Sequential(projectionConv, projectionNorm));   // keys <shortcut>.0 / .1
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // The 1×1 convs through the oneDNN guard (Ops/OneDnnPointwiseGuard): ResNet-50's channel pairs are the faulting ones.
        var y = functional.relu(bn1.call(Ops.OneDnnPointwiseGuard.Call(conv1, x)));
        y = functional.relu(bn2.call(conv2.call(y)));
        y = bn3.call(Ops.OneDnnPointwiseGuard.Call(conv3, y));
        var identity = projectionConv is null ? x : projectionNorm!.call(Ops.OneDnnPointwiseGuard.Call(projectionConv, x));
        if (!y.shape.SequenceEqual(identity.shape))
            throw new ArgumentException($"Bottleneck: residual branch gives {Ops.ScanArguments.Fmt(y.shape)} but the shortcut " +
                $"gives {Ops.ScanArguments.Fmt(identity.shape)} (odd feature size before a stride-2 pooled block?).", nameof(x));
        return functional.relu(y.Plus(identity)).MoveToOuterDisposeScope();   // owned alpha: Runtime/Scalars.cs
    }
}
