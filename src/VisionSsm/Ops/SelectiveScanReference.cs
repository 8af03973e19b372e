using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// The slow, obviously-correct twin of the selective scan, written with plain tensor ops and a loop over L, as
/// mamba_ssm's <c>selective_scan_ref</c> (docs/selective-scan.md §2). Runs on any device; autograd differentiates it.
/// It materialises (batch, D, L, N) tensors, so keep it for tests and for devices without a kernel.
/// </summary>
public static class SelectiveScanReference
{
    public static (Tensor y, Tensor lastState) Apply(ScanArguments a)
    {
        using var scope = NewDisposeScope();
        long d = a.Channels;
        Tensor dt = a.DeltaBias is null ? a.Delta : a.Delta.Plus(a.DeltaBias.unsqueeze(-1));
        if (a.DeltaSoftplus) dt = nn.functional.softplus(dt, beta: 1, threshold: 20);   // docs/selective-scan.md §2 step 1

        Tensor b = PerChannel(a.B, d);                                  // (batch, D or 1, N, L)
        Tensor c = PerChannel(a.C, d);
        Tensor deltaA = exp(dt.unsqueeze(-1) * a.A.unsqueeze(1));       // (batch, D, L, N)  ZOH for A
        Tensor deltaBu = (dt * a.U).unsqueeze(-1) * b.transpose(-1, -2); // (batch, D, L, N)  Euler for B
        Tensor cT = c.transpose(-1, -2);                                // (batch, D or 1, L, N)

        var dA = deltaA.unbind(2);   // unbind, not select: select's backward is O(L²) (docs/architecture.md §6)
        var dBu = deltaBu.unbind(2);
        var cs = cT.unbind(2);
        Tensor h = zeros(a.Batch, d, a.States, dtype: a.U.dtype, device: a.U.device);
        var ys = new Tensor[a.Length];
        for (int t = 0; t < a.Length; t++)
        {
            h = (dA[t] * h).Plus(dBu[t]);                                     // h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t
            ys[t] = (h * cs[t]).sum(-1);                                // y_t = C_t · h_t
        }
        Tensor y = stack(ys, dim: 2);
        if (a.D is not null) y = y.Plus(a.D.unsqueeze(-1) * a.U);
        if (a.Z is not null) y = y * nn.functional.silu(a.Z);
        return (y.MoveToOuterDisposeScope(), h.detach().MoveToOuterDisposeScope());
    }

    /// <summary>(batch, N, L) → (batch, 1, N, L); (batch, G, N, L) → (batch, D, N, L) with channel d in group d / (D/G).</summary>
    static Tensor PerChannel(Tensor bc, long d) =>
        bc.dim() == 3 ? bc.unsqueeze(1) : bc.repeat_interleave(d / bc.shape[1], dim: 1);
}
