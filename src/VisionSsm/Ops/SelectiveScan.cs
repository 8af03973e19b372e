using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// The selective scan S6 with mamba_ssm's <c>selective_scan_fn</c> semantics (docs/selective-scan.md):
/// <c>h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t</c>, <c>y_t = C_t·h_t + D u_t</c>, optionally gated by SiLU(z).
/// CPU tensors run the SIMD kernel (<see cref="SelectiveScanCpu"/>); other devices run the loop-free chunked form
/// (<see cref="SelectiveScanChunked"/>).
/// </summary>
public static class SelectiveScan
{
    /// <summary>Returns y (batch, D, L). See the class summary for the layouts.</summary>
    public static Tensor Apply(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false)
    {
        var (y, last) = Run(ScanArguments.Validate(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus));
        last.Dispose();
        return y;
    }

    /// <summary>Returns y (batch, D, L) and the final state h_L (batch, D, N); no gradient flows through the state.</summary>
    public static (Tensor y, Tensor lastState) ApplyWithLastState(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false) =>
        Run(ScanArguments.Validate(u, delta, A, B, C, D, z, deltaBias, deltaSoftplus));

    static (Tensor y, Tensor lastState) Run(ScanArguments a)
    {
        var result = SelectiveScanCpu.Supports(a) ? SelectiveScanCpu.Apply(a) : SelectiveScanChunked.Apply(a);
        ScanCapture.Record(a, result.y);   // no-op unless an analysis opened a capture
        return result;
    }

    /// <summary>
    /// FLOPs (multiply-adds) of one call in VMamba's convention (csms6s.py <c>flops_selective_scan_fn</c>,
    /// docs/models/vmamba.md §8): <c>9·batch·L·D·N</c>, plus <c>batch·D·L</c> for the D skip and again for z.
    /// </summary>
    public static long Flops(long batch, long length, long channels, long states, bool withD = true, bool withZ = false) =>
        9 * batch * length * channels * states + (withD ? batch * channels * length : 0) + (withZ ? batch * channels * length : 0);
}
