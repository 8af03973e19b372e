using TorchSharp;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>
/// When the Mamba mixers (<see cref="Mamba"/>, <see cref="BiMamba"/>) take their fused float32 paths instead of the
/// module path, which is their slow twin and the only path for other dtypes: inference (<see cref="BiCausalConv"/>
/// kernels, no autograd) for both mixers, and training (<see cref="BiCausalConvFunction"/>) for the bidirectional one.
/// </summary>
public static class FusedMixerPath
{
    /// <summary>
    /// True when a bidirectional mixer may train <paramref name="x"/> on the fused path with autograd
    /// (<see cref="BiCausalConvFunction"/>, one grouped scan for both directions, <see cref="TokenLinear"/> projections):
    /// <see cref="KernelOptions.FusedMamba"/> on, the kernels support the dtype/device/width, and a gradient is needed
    /// (otherwise <see cref="Applies"/> decides).
    /// </summary>
    public static bool TrainingApplies(nn.Module mixer, Tensor x, long dInner)
    {
        if (!KernelOptions.Current.FusedMamba) return false;
        if (!BiCausalConv.Supports(x, dInner)) return false;
        return is_grad_enabled() && (x.requires_grad || mixer.parameters().Any(p => p.requires_grad));
    }

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
