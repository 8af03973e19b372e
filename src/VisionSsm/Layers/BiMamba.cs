using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Vim's bidirectional "bimamba v2" mixer (docs/models/vim.md §4) on (batch, L, d_model): one shared in_proj
/// (D → 4D) and out_proj; a forward direction and a backward direction over the flipped sequence, each with its
/// own conv1d, x_proj, dt_proj, A_log and D and each gated by SiLU(z) (the steps of docs/models/mamba.md §1, <see cref="Mamba.Mixer"/>);
/// the two outputs are averaged (<c>if_divide_out</c>) before out_proj. Unlike the official slow path, which
/// silently drops the backward direction, this always runs both. Parameter names equal the official keys.
/// </summary>
public sealed class BiMamba : Module<Tensor, Tensor>
{
    public MambaConfig Config { get; }

    /// <summary>True (all released Vim models): average the directions; false: sum them.</summary>
    public bool DivideOut { get; }

    private readonly Linear in_proj;
    private readonly Conv1d conv1d;
    private readonly Conv1d conv1d_b;
    private readonly Linear x_proj;
    private readonly Linear x_proj_b;
    private readonly Linear dt_proj;
    private readonly Linear dt_proj_b;
    private readonly Parameter A_log;
    private readonly Parameter A_b_log;
    private readonly Parameter D;
    private readonly Parameter D_b;
    private readonly Linear out_proj;

    public BiMamba(MambaConfig config, bool divideOut = true, Device? device = null) : base(nameof(BiMamba))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        DivideOut = divideOut;
        int di = config.DInner, r = config.Rank, n = config.DState;
        in_proj = Linear(config.DModel, 2 * di, hasBias: config.Bias);
        conv1d = Conv1d(di, di, config.DConv, padding: config.DConv - 1, groups: di, bias: config.ConvBias);
        conv1d_b = Conv1d(di, di, config.DConv, padding: config.DConv - 1, groups: di, bias: config.ConvBias);
        x_proj = Linear(di, r + 2 * n, hasBias: false);
        x_proj_b = Linear(di, r + 2 * n, hasBias: false);
        dt_proj = Linear(r, di, hasBias: true);
        dt_proj_b = Linear(r, di, hasBias: true);
        // docs/models/mamba.md §2 for the forward direction. Vim's fork builds dt_proj_b as a plain nn.Linear: its weight keeps the
        // default kaiming-uniform(a=√5) init, i.e. U(±R^-½) = the "random" dt init, and its bias is not tagged
        // _no_reinit, so Vim's _init_weights zeroes it (softplus(0) = ln 2 at initialisation).
        MambaInit.DtWeight(dt_proj.weight!, r);
        MambaInit.DtBias(dt_proj.bias!);
        using (no_grad()) dt_proj_b.bias!.zero_();
        A_log = Parameter(MambaInit.ALog(di, n));
        A_b_log = Parameter(MambaInit.ALog(di, n));
        D = Parameter(ones(di));
        D_b = Parameter(ones(di));
        out_proj = Linear(di, config.DModel, hasBias: config.Bias);
        RegisterComponents();
        if (device is not null) this.to(device);
    }

    /// <summary>The shared output projection (Vim's init rescales its weight by 1/√depth, docs/models/vim.md §6).</summary>
    public Linear OutProj => out_proj;

    /// <summary>The shared input projection.</summary>
    public Linear InProj => in_proj;

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 3 || x.shape[2] != Config.DModel)
            throw new ArgumentException($"BiMamba expects (batch, L, {Config.DModel}); got {ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var kernels = KernelOptions.UseIfSet(Kernels);
        if (UseFastPath(x)) return ForwardFused(x);
        if (FusedMixerPath.TrainingApplies(this, x, Config.DInner)) return ForwardFusedTraining(x);
        using var scope = NewDisposeScope();
        var xz = Mamba.InProjection(in_proj, x);                                     // (B, 2Di, L)
        var parts = xz.chunk(2, dim: 1);
        Tensor xs = parts[0], z = parts[1];
        // Each direction in its own dispose scope, so its temporaries are freed before the other one runs (peak
        // inference memory: one direction's activations, not two).
        Tensor yF, yB;
        using (NewDisposeScope())
            yF = Mamba.Mixer(xs, z, conv1d, x_proj, dt_proj, A_log, D, Config.Rank, Config.DState).MoveToOuterDisposeScope();
        // Backward direction: both x and z flipped along L (docs/models/vim.md §4), its own parameters, result flipped back.
        using (NewDisposeScope())
            yB = Mamba.Mixer(xs.flip(2), z.flip(2), conv1d_b, x_proj_b, dt_proj_b, A_b_log, D_b, Config.Rank, Config.DState)
                .flip(2).MoveToOuterDisposeScope();
        var y = yF.Plus(yB);
        if (DivideOut) y = y.Over(2);
        return Mamba.OutProjection(out_proj, y).MoveToOuterDisposeScope();
    }

    /// <summary>Kernel options for this module's calls (null: the ambient <see cref="KernelOptions.Current"/>), as
    /// mamba_ssm's <c>use_fast_path</c>.</summary>
    public KernelOptions? Kernels { get; set; }

    /// <summary>The fused path serves float32 CPU inference only (<see cref="FusedMixerPath.Applies"/>).</summary>
    bool UseFastPath(Tensor x) => FusedMixerPath.Applies(this, x, Config.DInner);

    /// <summary>
    /// The same mixer with both directions as one batch (docs/models/vim.md §4, same math as the module path):
    /// in_proj as a plain GEMM to [x | z] (channel-major on the C# GEMM, else token-major); one kernel writes the
    /// conv+SiLU outputs of both directions (backward in flipped time) and [z | flip z] channel-major; x_proj and dt_proj of both directions as one
    /// batched matmul each over stacked weights; one scan over 2·Di channels with per-direction B/C as G = 2 groups;
    /// the backward half flipped back and the halves averaged; out_proj. About half the ops of two Mixer calls,
    /// and no transposed or flipped copies. The module path (<see cref="Mamba.Mixer"/> per direction) is its twin.
    /// </summary>
    internal Tensor ForwardFused(Tensor x, bool channelMajorInProj = true)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], length = x.shape[1];
        int di = Config.DInner, r = Config.Rank, n = Config.DState;
        Tensor u, z;
        if (channelMajorInProj && KernelOptions.Current.MambaChannelMajorInProjection && Gemm.MatMulApplies(in_proj.weight!, x))
        {
            // On the C# GEMM: in_proj channel-major, xzᵀ (B, 2Di, L) = W·xᵀ, so the conv runs along contiguous time rows.
            var xzT = Gemm.MatMul(in_proj.weight!, x.transpose(1, 2));
            if (in_proj.bias is not null) xzT = xzT.Plus(in_proj.bias.unsqueeze(-1));
            (u, z) = BiCausalConvChannelMajor.Prepare(xzT, conv1d.weight!, conv1d.bias, conv1d_b.weight!, conv1d_b.bias);
        }
        else
        {
            var xz = Gemm.Linear(x, in_proj.weight!, in_proj.bias);                      // (B, L, 2Di)
            (u, z) = BiCausalConv.Prepare(xz, conv1d.weight!, conv1d.bias, conv1d_b.weight!, conv1d_b.bias);
        }
        // The per-direction stacks/cats below are rebuilt every call (all of them with exp: ~0.1 ms of ~5 ms per layer at
        // 224², vim-profile); a cache would go stale after in-place parameter updates.
        var wx = stack([x_proj.weight!, x_proj_b.weight!]);                              // (2, R+2N, Di)
        var dbl = Gemm.MatMul(wx, u.view(batch, 2, di, length));                       // (B, 2, R+2N, L)
        var dt = Gemm.MatMul(stack([dt_proj.weight!, dt_proj_b.weight!]), dbl.narrow(2, 0, r)).view(batch, 2 * di, length);
        var bm = dbl.narrow(2, r, n);                                                   // (B, G=2, N, L)
        var cm = dbl.narrow(2, r + n, n);
        var a = -exp(cat([A_log, A_b_log], 0));
        var y = SelectiveScan.Apply(u, dt, a, bm, cm, cat([D, D_b], 0), z, cat([dt_proj.bias!, dt_proj_b.bias!], 0), deltaSoftplus: true);
        var merged = BiCausalConv.Merge(y, DivideOut ? 0.5 : 1.0);                      // (B, Di, L)
        return Gemm.LinearChannelMajor(merged, out_proj.weight!, out_proj.bias).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="ForwardFused"/>'s dataflow with autograd, for training: in_proj token-major on <see cref="TokenLinear"/>,
    /// both directions' conv + SiLU and [z | flip z] from one kernel with a backward (<see cref="BiCausalConvFunction"/>),
    /// x_proj and dt_proj of both directions as grouped channel-major products (<see cref="ChannelMajorProjection"/>),
    /// one scan over 2·Di channels with G = 2, the backward half flipped back and averaged in tensor ops, out_proj on
    /// <see cref="TokenLinear"/>. Against the module path (its twin) it drops libtorch's conv1d, four flips and two
    /// transposed copies per layer, forward and backward.
    /// </summary>
    internal Tensor ForwardFusedTraining(Tensor x)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], length = x.shape[1];
        int di = Config.DInner, r = Config.Rank, n = Config.DState;
        var xz = TokenLinear.Apply(x, in_proj.weight!, in_proj.bias);                   // (B, L, 2Di)
        var (u, z) = BiCausalConvFunction.Apply(xz, conv1d.weight!, conv1d.bias, conv1d_b.weight!, conv1d_b.bias);
        var dbl = ChannelMajorProjection.Apply(stack([x_proj.weight!, x_proj_b.weight!]), u.view(batch, 2, di, length));   // (B, 2, R+2N, L)
        var dt = ChannelMajorProjection.Apply(stack([dt_proj.weight!, dt_proj_b.weight!]), dbl.narrow(2, 0, r)).view(batch, 2 * di, length);
        var bm = dbl.narrow(2, r, n).contiguous();                                      // (B, G=2, N, L)
        var cm = dbl.narrow(2, r + n, n).contiguous();
        var a = -exp(cat([A_log, A_b_log], 0));
        var y = SelectiveScan.Apply(u, dt, a, bm, cm, cat([D, D_b], 0), z, cat([dt_proj.bias!, dt_proj_b.bias!], 0), deltaSoftplus: true);
        var merged = BiCausalConv.MergeReference(y, DivideOut ? 0.5 : 1.0);             // (B, Di, L)
        return Mamba.OutProjection(out_proj, merged).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Closed-form count (docs/models/vim.md §1): D·4D + 2×[conv (d_conv+1)·2D + x_proj 2D(R+2N) + dt_proj 2D·R+2D + A 2D·N + D 2D] + 2D·D,
    /// without proj biases.
    /// </summary>
    public static long ParameterCount(MambaConfig c)
    {
        long dm = c.DModel, di = c.DInner, r = c.Rank, n = c.DState;
        long direction = (c.DConv + 1) * di + di * (r + 2 * n) + di * r + di + di * n + di;
        return dm * 2 * di + 2 * direction + di * dm;
    }
}
