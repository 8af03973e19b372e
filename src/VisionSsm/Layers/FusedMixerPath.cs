using TorchSharp;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>
/// When the Mamba mixers (<see cref="Mamba"/>, <see cref="BiMamba"/>) take their fused float32 inference path
/// (<see cref="BiCausalConv"/> kernels, no autograd) instead of the module path, which is its slow twin and the only
/// path for training and other dtypes.
/// </summary>
public static class FusedMixerPath
{
    /// <summary>
    /// True when <paramref name="mixer"/> may run <paramref name="x"/> on the fused path:
    /// <see cref="KernelOptions.FusedMamba"/> on,
    /// the kernel supports the dtype/device/width, and no gradient is needed (the kernels have no backward).
    /// </summary>
    public static bool Applies(nn.Module mixer, Tensor x, long dInner)
    {
        if (!KernelOptions.Current.FusedMamba) return false;
        if (!BiCausalConv.Supports(x, dInner)) return false;
        if (is_grad_enabled() && (x.requires_grad || mixer.parameters().Any(p => p.requires_grad))) return false;
        return true;
    }
}
