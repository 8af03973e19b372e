using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>Hyper-parameters of the Mamba mixer (docs/models/mamba.md). dt_rank null means "auto" = ceil(d_model/16).</summary>
public sealed record MambaConfig(int DModel, int DState = 16, int DConv = 4, int Expand = 2, int? DtRank = null,
    bool ConvBias = true, bool Bias = false)
{
    public int DInner => Expand * DModel;
    public int Rank => DtRank ?? (DModel + 15) / 16;
}

/// <summary>
/// The standard Mamba block (mamba_ssm <c>mamba_simple.Mamba</c>, docs/models/mamba.md) on (batch, L, d_model):
/// in_proj → causal depthwise conv1d + SiLU → x_proj → dt_proj (bias fed to the scan as deltaBias) →
/// selective scan gated by SiLU(z) → out_proj. Parameter names equal the upstream state_dict keys.
/// </summary>
public sealed class Mamba : Module<Tensor, Tensor>
{
    public MambaConfig Config { get; }

    private readonly Linear in_proj;
    private readonly Conv1d conv1d;
    private readonly Linear x_proj;
    private readonly Linear dt_proj;
    private readonly Parameter A_log;
    private readonly Parameter D;
    private readonly Linear out_proj;

    public Mamba(MambaConfig config, Device? device = null) : base(nameof(Mamba))
    {
        Config = config;
        int di = config.DInner;
        in_proj = Linear(config.DModel, 2 * di, hasBias: config.Bias);
        conv1d = Conv1d(di, di, config.DConv, padding: config.DConv - 1, groups: di, bias: config.ConvBias);
        x_proj = Linear(di, config.Rank + 2 * config.DState, hasBias: false);
        dt_proj = Linear(config.Rank, di, hasBias: true);
        MambaInit.DtWeight(dt_proj.weight!, config.Rank);
        MambaInit.DtBias(dt_proj.bias!);
        A_log = Parameter(MambaInit.ALog(di, config.DState));
        D = Parameter(ones(di));
        out_proj = Linear(di, config.DModel, hasBias: config.Bias);
        RegisterComponents();
        if (device is not null) this.to(device);
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 3 || x.shape[2] != Config.DModel)
            throw new ArgumentException($"Mamba expects (batch, L, {Config.DModel}); got {ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var kernels = KernelOptions.UseIfSet(Kernels);
        if (FusedMixerPath.Applies(this, x, Config.DInner)) return ForwardFused(x);
        using var scope = NewDisposeScope();
        var xz = InProjection(in_proj, x);                           // (B, 2Di, L)
        var parts = xz.chunk(2, dim: 1);
        var y = Mixer(parts[0], parts[1], conv1d, x_proj, dt_proj, A_log, D, Config.Rank, Config.DState);
        return OutProjection(out_proj, y).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same mixer for float32 CPU inference (same math as the module path, its twin). With the AVX-512 kernels:
    /// in_proj channel-major, xzᵀ (B, 2Di, L) = W·xᵀ (<see cref="Gemm.MatMul"/>; xᵀ is dense when x is the transposed
    /// view of a channel-first map, as in vGamba's cell), SiLU(causal conv(x)) along contiguous time rows
    /// (<see cref="BiCausalConvChannelMajor"/>) and z as a view; otherwise in_proj token-major and one
    /// <see cref="BiCausalConv"/> pass to the same layouts. Then x_proj and dt_proj as W·u, so dt, B and C come out
    /// channel-major as the scan reads them; the z-gated scan; out_proj on the channel-major scan output.
    /// </summary>
    internal Tensor ForwardFused(Tensor x)
    {
        using var scope = NewDisposeScope();
        int r = Config.Rank, n = Config.DState;
        Tensor u, z;                                                                  // (B, Di, L) each
        // Channel-major from L = 64 on (`vgamba-mamba`, 1 thread: 4.71 → 4.40 ms at L 784, 2.86 → 2.70 at L 196 and
        // Di 512, but 0.91 → 0.98 at L 49, where each time row is only three vectors long).
        if (KernelOptions.Current.MambaChannelMajorInProjection && x.shape[1] >= 64 && Gemm.MatMulApplies(in_proj.weight!, x))
        {
            var xzT = Gemm.MatMul(in_proj.weight!, x.transpose(1, 2));                // (B, 2Di, L)
            if (in_proj.bias is not null) xzT = xzT.Plus(in_proj.bias.unsqueeze(-1));
            (u, z) = BiCausalConvChannelMajor.Prepare(xzT, conv1d.weight!, conv1d.bias);
        }
        else
        {
            var xz = Gemm.Linear(x, in_proj.weight!, in_proj.bias);                  // (B, L, 2Di)
            (u, z) = BiCausalConv.Prepare(xz, conv1d.weight!, conv1d.bias);
        }
        var dbl = Gemm.MatMul(x_proj.weight!, u);                                     // (B, R+2N, L)
        var dt = Gemm.MatMul(dt_proj.weight!, dbl.narrow(1, 0, r));                   // (B, Di, L)
        var y = SelectiveScan.Apply(u, dt, -exp(A_log), dbl.narrow(1, r, n), dbl.narrow(1, r + n, n), D, z,
            dt_proj.bias, deltaSoftplus: true);
        return Gemm.LinearChannelMajor(y, out_proj.weight!, out_proj.bias).MoveToOuterDisposeScope();
    }

    /// <summary>Kernel options for this module's calls (null: the ambient <see cref="KernelOptions.Current"/>), as
    /// mamba_ssm's <c>use_fast_path</c>: <c>Kernels = KernelOptions.Default with { FusedMamba = false }</c>.</summary>
    public KernelOptions? Kernels { get; set; }

    /// <summary>
    /// Step 1 of docs/models/mamba.md §1 as upstream computes it: <c>W_in @ xᵀ</c> with the weight used functionally (so module hooks,
    /// and thop's parameter count, do not see in_proj). Returns (batch, out, L).
    /// </summary>
    public static Tensor InProjection(Linear inProj, Tensor x)
    {
        // Same product as W·xᵀ, but as a plain GEMM on contiguous x (matmul of a 2-D weight with a transposed 3-D
        // view takes a slow broadcast path: 3–4× slower at Vim-S size), returned as a (batch, out, L) view. TokenLinear
        // runs forward and backward on our AVX-512 GEMM where it is measured faster than MKL's AVX2 path (training).
        return TokenLinear.Apply(x, inProj.weight!, inProj.bias).transpose(1, 2);
    }

    /// <summary>The output projection of the module path: y (batch, Di, L) → (batch, L, d_model), on
    /// <see cref="TokenLinear"/> like <see cref="InProjection"/>.</summary>
    public static Tensor OutProjection(Linear outProj, Tensor y) => TokenLinear.Apply(y.transpose(1, 2), outProj.weight!, outProj.bias);

    /// <summary>
    /// Steps 2–4 of docs/models/mamba.md §1 for one direction, on channel-first x and z (batch, Di, L): causal depthwise conv + SiLU,
    /// x_proj → (dt, B, C), dt_proj's weight applied as a matmul and its bias passed to the scan as deltaBias with
    /// softplus, then the z-gated scan. Returns (batch, Di, L) before out_proj. Shared with Vim's bidirectional mixer.
    /// </summary>
    public static Tensor Mixer(Tensor x, Tensor z, Conv1d conv1d, Linear xProj, Linear dtProj, Tensor aLog, Tensor dSkip,
        int dtRank, int dState)
    {
        long length = x.shape[2];
        var xc = nn.functional.silu(conv1d.call(x).narrow(2, 0, length));          // keep the first L outputs: causal
        // x_proj (no bias) and dt_proj's weight channel-major, W·x, so dt, B and C come out (B, ·, L) as the scan reads them.
        var xDbl = ChannelMajorProjection.Apply(xProj.weight!, xc);                 // (B, R + 2N, L)
        var split = xDbl.split([dtRank, dState, dState], dim: 1);
        var dt = ChannelMajorProjection.Apply(dtProj.weight!, split[0]);            // (B, Di, L)
        var b = split[1].contiguous();                                               // (B, N, L)
        var c = split[2].contiguous();
        return SelectiveScan.Apply(xc, dt, -exp(aLog), b, c, dSkip, z.contiguous(), dtProj.bias, deltaSoftplus: true);
    }

    /// <summary>Closed-form count: Dm·2Di + 5Di + Di(R+2N) + Di·R + Di + Di·N + Di + Di·Dm (d_conv 4, no proj bias).</summary>
    public static long ParameterCount(MambaConfig c)
    {
        long dm = c.DModel, di = c.DInner, r = c.Rank, n = c.DState;
        return dm * 2 * di + (c.DConv + 1) * di + di * (r + 2 * n) + di * r + di + di * n + di + di * dm;
    }
}
