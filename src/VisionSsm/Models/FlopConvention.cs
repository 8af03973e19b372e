namespace VisionSsm.Models;

/// <summary>How FLOPs are counted: both conventions count one multiply-add as one FLOP.</summary>
public enum FlopConvention
{
    /// <summary>fvcore's JIT-trace rules (conv, linear, norms, pools, matmul/einsum) plus the selective-scan formula
    /// of docs/models/vmamba.md §8; what the VMamba README and our Vim figures use.</summary>
    Fvcore,
    /// <summary>thop's module-hook rules (docs/models/vgamba.md §3): only registered module types, no functional
    /// matmuls and no scan; what the vGamba paper reports.</summary>
    Thop,
}
