using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Ops;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Layers;

/// <summary>
/// Hyper-parameters of <see cref="SS2D"/>. The defaults are the final release's <c>v05_noz</c> form
/// (docs/models/vmamba.md §1: d_state 1, dt_rank auto, 3×3 depthwise conv without bias, no z);
/// <see cref="V0"/> gives the vanilla form of docs/models/vmamba.md §10 (z gate, d_state 16, conv bias).
/// </summary>
public sealed record Ss2dConfig(int DModel, double SsmRatio = 2.0, int DState = 1, int? DtRank = null,
    bool WithZ = false, bool ConvBias = false)
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
        long b = x.shape[0], h = x.shape[2], w = x.shape[3], l = h * w;
        long di = cfg.DInner, r = cfg.Rank, n = cfg.DState, k = Ss2dConfig.Routes;

        var xz = in_proj.call(x);                                              // step 1
        Tensor u = xz, z = null!;
        if (cfg.WithZ)
        {
            var parts = xz.chunk(2, 1);                                        // docs/models/vmamba.md §10: x, z halves
            u = parts[0];
            z = parts[1];
        }
        u = nn.functional.silu(conv2d.call(ChannelsLast.To(u)));              // step 2 (channels-last dwconv)

        var xs = UseReferenceKernels ? CrossScan.ScanReference(u) : CrossScan.Scan(u);   // step 3: (B, K, Di, L)
        // Step 4: the grouped conv1d projections, as batched matmuls over the K routes.
        var xDbl = matmul(x_proj_weight, xs);                                  // (B, K, R + 2N, L)
        var split = xDbl.split([r, n, n], dim: 2);
        var dts = matmul(dt_projs_weight, split[0]);                           // (B, K, Di, L)

        var a = -exp(A_logs);                                                  // A = −exp(A_log)
        var bs = split[1].contiguous();                                        // (B, K, N, L): G = K groups
        var cs = split[2].contiguous();
        var uFlat = xs.view(b, k * di, l);
        var dtFlat = dts.view(b, k * di, l);
        var dBias = dt_projs_bias.view(k * di);
        Tensor ys;                                                             // step 5
        if (UseReferenceKernels)
        {
            ys = SelectiveScanReference.Apply(ScanArguments.Validate(uFlat, dtFlat, a, bs, cs, Ds, null, dBias, true)).y;
        }
        else
            ys = SelectiveScan.Apply(uFlat, dtFlat, a, bs, cs, Ds, null, dBias, deltaSoftplus: true);

        var ys4 = ys.view(b, k, di, l);
        var y = UseReferenceKernels ? CrossScan.MergeReference(ys4, h, w) : CrossScan.Merge(ys4, h, w);   // step 6
        y = out_norm.call(ChannelsLast.To(y));                                 // step 7
        if (cfg.WithZ) y = y * nn.functional.silu(z);                          // docs/models/vmamba.md §10: LN(scan) · SiLU(z)
        return out_proj.call(y).MoveToOuterDisposeScope();                     // step 8
    }
}
