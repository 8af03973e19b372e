using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Layers;

/// <summary>The Mamba parameter initialisations of docs/models/mamba.md §2 (mamba_simple.py, VMamba mamba_init).</summary>
public static class MambaInit
{
    /// <summary>S4D-real: A_log[d, n] = log(n + 1), so A = -exp(A_log) = -1, -2, …, -N.</summary>
    public static Tensor ALog(long channels, long states, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        using var end = (states + 1).ToScalar();
        return log(arange(Scalars.One, end, Scalars.One, dtype: dtype, device: device)).unsqueeze(0).repeat(channels, 1).contiguous();
    }

    /// <summary>dt_proj.weight ~ U(-s, s), s = dt_rank^-0.5 · dtScale ("random" dt_init).</summary>
    public static void DtWeight(Tensor weight, long dtRank, double dtScale = 1.0)
    {
        double s = Math.Pow(dtRank, -0.5) * dtScale;
        using var _ = no_grad();
        weight.uniform_(-s, s);
    }

    /// <summary>
    /// dt_proj.bias = softplus⁻¹(dt) with dt log-uniform in [dtMin, dtMax], clamped to ≥ floor; the inverse is
    /// dt + log(-expm1(-dt)) as upstream, so that softplus(bias) = dt at initialisation.
    /// </summary>
    public static void DtBias(Tensor bias, double dtMin = 1e-3, double dtMax = 0.1, double floor = 1e-4)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var low = floor.ToScalar();
        var dt = exp(rand(bias.shape, dtype: bias.dtype, device: bias.device).Times(Math.Log(dtMax) - Math.Log(dtMin)).PlusScalar(Math.Log(dtMin)))
            .clamp_min(low);
        bias.copy_(dt.Plus(log(-expm1(-dt))));
    }
}
