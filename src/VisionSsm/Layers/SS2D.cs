using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Hyper-parameters of <see cref="SS2D"/>. The defaults are the final release's <c>v05_noz</c> form
/// (docs/models/vmamba.md §1: d_state 1, dt_rank auto, 3×3 depthwise conv without bias, no z);
/// <see cref="V0"/> gives the vanilla form of docs/models/vmamba.md §10 (z gate, d_state 16, conv bias).
/// <see cref="Pattern"/> picks the scan routes (VMamba Table 5; docs/analysis.md "Scan patterns"); all patterns have
/// the same parameters.
/// </summary>
public sealed record Ss2dConfig(int DModel, double SsmRatio = 2.0, int DState = 1, int? DtRank = null,
    bool WithZ = false, bool ConvBias = false, ScanPattern Pattern = ScanPattern.Cross)
{
    public const int Routes = 4;
    public int DInner => (int)(SsmRatio * DModel);
    /// <summary>"auto" dt_rank = ceil(d_model / 16).</summary>
    public int Rank => DtRank ?? (DModel + 15) / 16;

    public static Ss2dConfig V0(int dModel) => new(dModel, 2.0, 16, null, WithZ: true, ConvBias: true);

    /// <summary>Closed-form count of docs/models/vmamba.md §1 (plus Di·C more for z and Di for the conv bias, docs/models/vmamba.md §10).</summary>
    public long ParameterCount()
    {
        long c = DModel, di = DInner, r = Rank, n = DState, k = Routes;
        return c * di * (WithZ ? 2 : 1) + 9 * di + (ConvBias ? di : 0) + k * (r + 2 * n) * di + k * di * r + k * di
            + k * di * n + k * di + 2 * di + di * c;
    }
}

/// <summary>
/// VMamba's 2-D selective-scan mixer (SS2Dv2 <c>forwardv2</c> with <c>v05_noz</c>, docs/models/vmamba.md §6) on
/// (B, C, H, W): in_proj (1×1) → depthwise 3×3 conv → SiLU → cross-scan into 4 routes → per-route x_proj and
/// dt_projs (K = 4 packed groups) → selective scan with B/C grouped per route → cross-merge → out_norm (LN over
/// channels) → [· SiLU(z) in the v0 form] → out_proj. Parameter names and shapes are the official keys (docs/models/vmamba.md §9).
/// Activations stay channels-last between the projections, norms and the conv (docs/architecture.md §6).
/// </summary>
public sealed class SS2D : Module<Tensor, Tensor>
{
    public Ss2dConfig Config { get; }

    private readonly Linear2d in_proj;
    private readonly Conv2d conv2d;
    private readonly Parameter x_proj_weight;     // (K, R + 2N, Di)
    private readonly Parameter dt_projs_weight;   // (K, Di, R)
    private readonly Parameter dt_projs_bias;     // (K, Di)
    private readonly Parameter A_logs;            // (K·Di, N)
    private readonly Parameter Ds;                // (K·Di)
    private readonly LayerNorm2d out_norm;
    private readonly Linear2d out_proj;

    /// <summary>
    /// Test hook: when true, the forward uses <see cref="SelectiveScanReference"/> and the slow cross-scan twins,
    /// so a block can be compared against a reference built only from obviously-correct pieces.
    /// </summary>
    internal bool UseReferenceKernels { get; set; }

    public SS2D(Ss2dConfig config) : base(nameof(SS2D))
    {
        Config = config;
        int c = config.DModel, di = config.DInner, r = config.Rank, n = config.DState, k = Ss2dConfig.Routes;
        in_proj = new Linear2d(c, config.WithZ ? 2 * di : di, hasBias: false);
        conv2d = Conv2d(di, di, 3, padding: 1, groups: di, bias: config.ConvBias);
        // docs/models/vmamba.md §7: x_proj_weight keeps nn.Linear's default U(±1/√Di); dt_projs as mamba_init, one copy per route.
        double bound = 1 / Math.Sqrt(di);
        x_proj_weight = Parameter(empty(k, r + 2 * n, di).uniform_(-bound, bound));
        dt_projs_weight = Parameter(empty(k, di, r));
        MambaInit.DtWeight(dt_projs_weight, r);
        dt_projs_bias = Parameter(empty(k, di));
        MambaInit.DtBias(dt_projs_bias);
        A_logs = Parameter(MambaInit.ALog(k * di, n));
        Ds = Parameter(ones(k * di));
        out_norm = new LayerNorm2d(di);
        out_proj = new Linear2d(di, c, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var cfg = Config;
        if (x.dim() != 4 || x.shape[1] != cfg.DModel)
            throw new ArgumentException($"SS2D expects (B, {cfg.DModel}, H, W); got {ScanArguments.Fmt(x.shape)}.", nameof(x));
        using var scope = NewDisposeScope();
        var xz = in_proj.call(x);                                              // step 1
        Tensor u = xz, z = null!;
        if (cfg.WithZ)
        {
            var parts = xz.chunk(2, 1);                                        // docs/models/vmamba.md §10: x, z halves
            u = parts[0];
            z = parts[1];
        }
        u = nn.functional.silu(conv2d.call(ChannelsLast.To(u)));              // step 2 (channels-last dwconv)

        var y = cfg.Pattern == ScanPattern.Cascade ? Cascade(u) : OnePass(u);           // steps 3–6
        y = out_norm.call(ChannelsLast.To(y));                                 // step 7
        if (cfg.WithZ) y = y * nn.functional.silu(z);                          // docs/models/vmamba.md §10: LN(scan) · SiLU(z)
        return out_proj.call(y).MoveToOuterDisposeScope();                     // step 8
    }
    /// <summary>
    /// Steps 3–6 for the one-pass patterns: unroll u (B, Di, H, W) into the four routes, scan them, merge back.
    /// </summary>
    Tensor OnePass(Tensor u)
    {
        long h = u.shape[2], w = u.shape[3];
        var pattern = Config.Pattern;
        var xs = UseReferenceKernels ? ScanRoutes.ScanReference(u, pattern) : ScanRoutes.Scan(u, pattern);   // (B, K, Di, L)
        var ys = ScanRoutesOf(xs, 0, Ss2dConfig.Routes);
        return UseReferenceKernels ? ScanRoutes.MergeReference(ys, h, w, pattern) : ScanRoutes.Merge(ys, h, w, pattern);
    }

    /// <summary>
    /// Steps 3–6 of the cascade (official <c>forward_corev2</c>, scan_mode <c>cascade2d</c>): u is layer-normalised over
    /// channels (no affine); routes 0, 1 scan every row forward and backward; their sum is layer-normalised and routes
    /// 2, 3 scan every column forward and backward; the sum is the output (B, Di, H, W). The official code adds the
    /// backward route's outputs without flipping them back to their positions; here they are flipped back, so each
    /// output sums the two directions at its own pixel (docs/analysis.md "Scan patterns").
    /// </summary>
    Tensor Cascade(Tensor u)
    {
        long b = u.shape[0], di = u.shape[1], h = u.shape[2], w = u.shape[3];
        var rows = ChannelNorm(u).permute(0, 2, 1, 3).reshape(b * h, di, w);          // (B·H, Di, W)
        var yRows = BothWays(rows, 0).view(b, h, di, w).permute(0, 2, 1, 3);          // (B, Di, H, W)
        var cols = ChannelNorm(yRows).permute(0, 3, 1, 2).reshape(b * w, di, h);      // (B·W, Di, H)
        return BothWays(cols, 2).view(b, w, di, h).permute(0, 2, 3, 1);              // (B, Di, H, W)
    }

    /// <summary>Scans sequences (S, Di, L) forward with route <paramref name="first"/> and backward with the next one; the
    /// backward outputs flipped back; returns their sum (S, Di, L).</summary>
    Tensor BothWays(Tensor seq, int first)
    {
        var xs = stack([seq, seq.flip(-1)], 1);                                         // (S, 2, Di, L)
        var ys = ScanRoutesOf(xs, first, 2);
        return ys.select(1, 0).Plus(ys.select(1, 1).flip(-1));
    }

    /// <summary>LayerNorm over the channel axis of (B, C, H, W) without affine parameters (eps 1e-5, F.layer_norm).</summary>
    static Tensor ChannelNorm(Tensor x) =>
        nn.functional.layer_norm(x.permute(0, 2, 3, 1), [x.shape[1]]).permute(0, 3, 1, 2);

    /// <summary>
    /// Steps 4–5 for <paramref name="count"/> routes starting at <paramref name="first"/>: xs (S, count, Di, L) → per-route
    /// x_proj and dt_projs (batched matmuls over the routes), the selective scan with B/C grouped per route (G = count).
    /// Returns ys (S, count, Di, L).
    /// </summary>
    Tensor ScanRoutesOf(Tensor xs, int first, int count)
    {
        long s = xs.shape[0], l = xs.shape[3];
        long di = Config.DInner, r = Config.Rank, n = Config.DState;
        bool all = first == 0 && count == Ss2dConfig.Routes;
        var xProj = all ? x_proj_weight : x_proj_weight.narrow(0, first, count);
        var dtProj = all ? dt_projs_weight : dt_projs_weight.narrow(0, first, count);
        var xDbl = Project(xProj, xs);                                                 // (S, count, R + 2N, L)
        var split = xDbl.split([r, n, n], dim: 2);
        var dts = Project(dtProj, split[0]);                                           // (S, count, Di, L)
        var a = -exp(all ? A_logs : A_logs.narrow(0, first * di, count * di));          // A = −exp(A_log)
        var dSkip = all ? Ds : Ds.narrow(0, first * di, count * di);
        var dBias = dt_projs_bias.view(-1);
        if (!all) dBias = dBias.narrow(0, first * di, count * di);
        var bs = split[1].contiguous();                                                // (S, count, N, L): G = count groups
        var cs = split[2].contiguous();
        var uFlat = xs.reshape(s, count * di, l);
        var dtFlat = dts.reshape(s, count * di, l);
        var ys = UseReferenceKernels
            ? SelectiveScanReference.Apply(ScanArguments.Validate(uFlat, dtFlat, a, bs, cs, dSkip, null, dBias, true)).y
            : SelectiveScan.Apply(uFlat, dtFlat, a, bs, cs, dSkip, null, dBias, deltaSoftplus: true);
        return ys.view(s, count, di, l);
    }

    /// <summary>Per-route W·x (matmul broadcast over S): our channel-major GEMM, forward and backward, or matmul in the reference.</summary>
    Tensor Project(Tensor weight, Tensor x) => UseReferenceKernels ? matmul(weight, x) : ChannelMajorProjection.Apply(weight, x);
}
