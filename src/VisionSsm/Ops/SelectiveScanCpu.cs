using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// CPU kernel for the selective scan: hand-written SIMD forward and backward in a custom autograd Function.
/// Placeholder until the kernel lands: reports no support, so dispatch uses the reference twin.
/// </summary>
public static class SelectiveScanCpu
{
    public static bool Supports(ScanArguments a) => false;

    public static (Tensor y, Tensor lastState) Apply(ScanArguments a) => throw new NotSupportedException("CPU kernel not yet available");
}
