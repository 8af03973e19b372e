using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>
/// A Vision Mamba configuration (reference-spec.md §3.1). The released models are patch 16 at 224², depth 24,
/// d_state 16, expand 2, RMSNorm eps 1e-5, class token in the middle, averaged directions.
/// </summary>
public sealed record VimConfig(int EmbedDim, int Depth = 24, int PatchSize = 16, int ImageSize = 224, int InChannels = 3,
    int NumClasses = 1000, int DState = 16, double DropPathRate = 0.0, double NormEps = 1e-5)
{
    public int GridSize => ImageSize / PatchSize;
    public int NumPatches => GridSize * GridSize;
    /// <summary>Index of the class token: M/2 (98 at 224²/16), <c>use_middle_cls_token</c>.</summary>
    public int ClsIndex => NumPatches / 2;
    public MambaConfig Mixer => new(EmbedDim, DState);

    /// <summary>§3.1: per layer D·4D + 2×(mixer direction) + 2D·D + D, plus patch embed, cls, pos, norm_f, head.</summary>
    public long ParameterCount()
    {
        long d = EmbedDim;
        long layer = BiMamba.ParameterCount(Mixer) + d;
        return Depth * layer + (InChannels * PatchSize * PatchSize * d + d) + d + (NumPatches + 1) * d + d + (d * NumClasses + NumClasses);
    }
}

/// <summary>
/// One Vim layer (<c>models_mamba.Block</c> with fused_add_norm, §3.3): <c>r = r + DropPath(h)</c> (for the first
/// layer <c>r = h</c>), then <c>h = mixer(norm(r))</c>, the residual kept in float32 (residual_in_fp32).
/// Keys: <c>norm.weight</c>, <c>mixer.*</c>.
/// </summary>
public sealed class VimBlock : Module
{
    private readonly RmsNorm norm;
    private readonly BiMamba mixer;
    private readonly DropPath drop_path;

    public VimBlock(MambaConfig mixerConfig, double dropPath, double eps) : base(nameof(VimBlock))
    {
        norm = new RmsNorm(mixerConfig.DModel, eps);
        mixer = new BiMamba(mixerConfig);
        drop_path = new DropPath(dropPath);
        RegisterComponents();
    }

    public RmsNorm Norm => norm;
    public BiMamba Mixer => mixer;
    public double DropPathRate => drop_path.Probability;

    /// <summary>Returns the new (hidden, residual); <paramref name="residual"/> null for the first layer.</summary>
    public (Tensor Hidden, Tensor Residual) Forward(Tensor hidden, Tensor? residual)
    {
        // Drop-path is the identity in eval (or at rate 0): then the add and the norm run as one fused step.
        bool dropPathIsIdentity = !drop_path.training || drop_path.Probability == 0;
        var (normed, r) = norm.AddAndNorm(dropPathIsIdentity ? hidden : drop_path.call(hidden), residual);
        return (mixer.call(normed), r);
    }
}

/// <summary>
/// Vision Mamba (hustvl/Vim <c>models_mamba.VisionMamba</c>, reference-spec.md §3): 16×16 patch embedding, a class
/// token inserted in the middle of the sequence, absolute position embedding, a pre-norm residual stack of
/// bidirectional Mamba layers, a final RMSNorm and a linear head on the class token. Parameter names equal the
/// official state_dict keys (§3.7), so official checkpoints load by name (<see cref="LoadStateDictResampled"/>).
/// </summary>
public sealed class Vim : Module<Tensor, Tensor>, IFeatureModel
{
    public VimConfig Config { get; }

    private readonly PatchEmbed patch_embed;
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;
    private readonly ModuleList<VimBlock> layers;
    private readonly RmsNorm norm_f;
    private readonly DropPath drop_path;
    private readonly Linear head;

    public Vim(VimConfig config, Device? device = null) : base(nameof(Vim))
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ImageSize % config.PatchSize != 0)
            throw new ArgumentException($"ImageSize {config.ImageSize} is not a multiple of the patch size {config.PatchSize}.", nameof(config));
        Config = config;
        int d = config.EmbedDim;
        patch_embed = new PatchEmbed(config.InChannels, d, config.PatchSize);
        cls_token = Parameter(zeros(1, 1, d));
        pos_embed = Parameter(zeros(1, config.NumPatches + 1, d));
        // §3.3: blocks use inter_dpr = [0] + linspace(0, rate, depth) (block i gets linspace[i-1]); the final
        // drop_path uses the full rate.
        var linspace = DropPath.LinearSchedule(config.DropPathRate, config.Depth);
        layers = new ModuleList<VimBlock>();
        for (int i = 0; i < config.Depth; i++)
            layers.Add(new VimBlock(config.Mixer, i == 0 ? 0.0 : linspace[i - 1], config.NormEps));
        norm_f = new RmsNorm(d, config.NormEps);
        drop_path = new DropPath(config.DropPathRate);
        head = Linear(d, config.NumClasses);
        RegisterComponents();
        Initialise();
        if (device is not null) this.to(device);
    }

    /// <summary>The drop-path rate of each block (the <c>inter_dpr</c> schedule of §3.3).</summary>
    public IReadOnlyList<double> BlockDropPathRates => layers.Select(b => b.DropPathRate).ToList();

    public IReadOnlyList<VimBlock> Layers => layers.ToList();

    /// <summary>§3.6: segm_init_weights on patch_embed and head, trunc_normal(.02) on pos/cls, then _init_weights.</summary>
    void Initialise()
    {
        using var _ = no_grad();
        var embed = patch_embed.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var w = embed["proj.weight"];
        long fanIn = w.shape[1] * w.shape[2] * w.shape[3];
        WeightInit.TruncNormal(w, Math.Sqrt(1.0 / fanIn) / 0.87962566103423978);   // timm lecun_normal_
        embed["proj.bias"].zero_();
        WeightInit.TruncNormal(head.weight!, 0.02);
        head.bias!.zero_();
        WeightInit.TruncNormal(pos_embed, 0.02);
        WeightInit.TruncNormal(cls_token, 0.02);
        foreach (var layer in layers)
        {
            // rescale_prenorm_residual: out_proj.weight ← kaiming_uniform(a=√5) / √(n_residuals_per_layer · depth).
            var o = layer.Mixer.OutProj.weight!;
            init.kaiming_uniform_(o, a: Math.Sqrt(5));
            o.OverInPlace(Math.Sqrt(Config.Depth));
        }
    }

    void CheckInput(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Config.InChannels || x.shape[2] != Config.ImageSize || x.shape[3] != Config.ImageSize)
            throw new ArgumentException(
                $"This Vim was built for inputs (batch, {Config.InChannels}, {Config.ImageSize}, {Config.ImageSize}); got {Ops.ScanArguments.Fmt(x.shape)}. " +
                "Build it at another size with ModelOptions.ImageSize and load weights with LoadStateDictResampled.", nameof(x));
    }

    /// <summary>(batch, M+1, D): the token sequence after norm_f, the class token at index <see cref="VimConfig.ClsIndex"/>.</summary>
    public Tensor ForwardTokens(Tensor x)
    {
        CheckInput(x);
        using var outer = NewDisposeScope();
        var t = patch_embed.call(x);                                               // (B, M, D)
        long b = t.shape[0];
        int mid = Config.ClsIndex;
        var cls = cls_token.expand(b, -1, -1);
        t = cat([t.narrow(1, 0, mid), cls, t.narrow(1, mid, t.shape[1] - mid)], 1).Plus(pos_embed);   // §3.2
        Tensor hidden = t;
        Tensor? residual = null;
        foreach (var layer in layers)
        {
            Tensor h, r;
            using (NewDisposeScope())                                               // free each layer's temporaries
            {
                (h, r) = layer.Forward(hidden, residual);
                h.MoveToOuterDisposeScope();
                r.MoveToOuterDisposeScope();
            }
            // Drop our handles on the previous layer's outputs (autograd keeps its own references when it needs
            // them), so inference memory stays at one layer's worth of activations rather than growing with depth.
            if (!ReferenceEquals(hidden, t)) hidden.Dispose();
            residual?.Dispose();
            hidden = h;
            residual = r;
        }
        // §3.3 end: out = norm_f(r + DropPath_f(h)).
        bool dropPathIsIdentity = !drop_path.training || drop_path.Probability == 0;
        var (final, _) = norm_f.AddAndNorm(dropPathIsIdentity ? hidden : drop_path.call(hidden), residual);
        return final.MoveToOuterDisposeScope();
    }

    /// <summary>Logits (batch, classes) from the class token (§3.5).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var tokens = ForwardTokens(x);
        return head.call(tokens.select(1, Config.ClsIndex)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Entry 0: the normalised token sequence (batch, M+1, D) with the class token at M/2; entry 1: the patch
    /// tokens (class token removed) reshaped to a (batch, D, H/p, W/p) map for dense heads.
    /// </summary>
    public IReadOnlyList<Tensor> ForwardFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        var tokens = ForwardTokens(x);
        int mid = Config.ClsIndex, g = Config.GridSize;
        var patches = cat([tokens.narrow(1, 0, mid), tokens.narrow(1, mid + 1, tokens.shape[1] - mid - 1)], 1);
        var map = patches.transpose(1, 2).reshape(tokens.shape[0], Config.EmbedDim, g, g);
        return [tokens.MoveToOuterDisposeScope(), map.MoveToOuterDisposeScope()];
    }

    /// <summary>
    /// Resamples a position embedding (1, M+1, D) with the class token at M/2 over the patch grid to
    /// <paramref name="newGrid"/>² patches: bicubic (align_corners false) on the √M × √M grid, class token kept
    /// and re-inserted at the middle index of the new sequence. Identity when the size is unchanged.
    /// </summary>
    public static Tensor ResamplePosEmbed(Tensor posEmbed, int newGrid)
    {
        if (posEmbed.dim() != 3 || posEmbed.shape[0] != 1)
            throw new ArgumentException($"pos_embed must be (1, M+1, D); got {Ops.ScanArguments.Fmt(posEmbed.shape)}.", nameof(posEmbed));
        long m = posEmbed.shape[1] - 1;
        int grid = (int)Math.Round(Math.Sqrt(m));
        if ((long)grid * grid != m)
            throw new ArgumentException($"pos_embed has {m} patch positions, not a square grid.", nameof(posEmbed));
        if (newGrid < 1) throw new ArgumentOutOfRangeException(nameof(newGrid), newGrid, "expected ≥ 1");
        if (newGrid == grid) return posEmbed.detach().clone();
        using var scope = NewDisposeScope();
        // Move the middle class token to the front, resample as ViT does, then re-insert it at the new middle.
        long mid = m / 2, newMid = (long)newGrid * newGrid / 2;
        var clsFirst = cat([posEmbed.narrow(1, mid, 1), posEmbed.narrow(1, 0, mid), posEmbed.narrow(1, mid + 1, m - mid)], 1);
        var resized = Vit.ResamplePositionEmbedding(clsFirst, newGrid);
        var flat = resized.narrow(1, 1, (long)newGrid * newGrid);
        var result = cat([flat.narrow(1, 0, newMid), resized.narrow(1, 0, 1), flat.narrow(1, newMid, flat.shape[1] - newMid)], 1);
        return result.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads a state dict by name (e.g. an official 224² checkpoint) into this model, resampling <c>pos_embed</c>
    /// when its patch grid differs from the one this model was built for. Returns the missing and unexpected keys.
    /// </summary>
    public (IList<string> Missing, IList<string> Unexpected) LoadStateDictResampled(IDictionary<string, Tensor> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var dict = new Dictionary<string, Tensor>(stateDict);
        Tensor? resampled = null;
        if (dict.TryGetValue("pos_embed", out var pe) && pe.shape[1] != Config.NumPatches + 1)
            dict["pos_embed"] = resampled = ResamplePosEmbed(pe, Config.GridSize);
        try
        {
            var (missing, unexpected) = load_state_dict(dict, strict);
            return (missing, unexpected);
        }
        finally
        {
            resampled?.Dispose();
        }
    }
}

/// <summary>The Vim variants in the zoo (reference-spec.md §3.1), plus a small-image <c>vim_nano</c>.</summary>
public sealed class VimFamily : IModelFamily
{
    const string Readme = "Vim README (hustvl/Vim); GFLOPs: VMamba/vGamba tables (old scan convention)";

    public IEnumerable<ModelEntry> Entries =>
    [
        Entry("vim_tiny", new VimConfig(192), new ReportedFigures(7, null, 76.1, Readme), "Vim-Ti, patch 16, 224²"),
        Entry("vim_small", new VimConfig(384), new ReportedFigures(26, 5.3, 80.5, Readme), "Vim-S, patch 16, 224²"),
        Entry("vim_base", new VimConfig(768), new ReportedFigures(98, null, 81.9, Readme), "Vim-B, patch 16, 224²"),
        // Not an official variant: the same architecture sized for 28×28 / 32×32 inputs (patch 4, 7×7 or 8×8 tokens).
        Entry("vim_nano", new VimConfig(96, Depth: 6, PatchSize: 4, ImageSize: 28), null, "small-image Vim (patch 4, D 96, depth 6) for 28²/32² data"),
    ];

    static ModelEntry Entry(string name, VimConfig baseConfig, ReportedFigures? reported, string description) =>
        new(name, "Vim", baseConfig.ImageSize, o => Build(baseConfig, o), FlopConvention.Fvcore, reported, description);

    /// <summary>Applies the options (classes, channels, image size, drop-path rate, device) to a base config.</summary>
    public static Vim Build(VimConfig baseConfig, ModelOptions o)
    {
        int size = o.ImageSize ?? baseConfig.ImageSize;
        if (size < baseConfig.PatchSize || size % baseConfig.PatchSize != 0)
            throw new ArgumentException($"ImageSize {size} must be a positive multiple of the patch size {baseConfig.PatchSize}.", nameof(o));
        var config = baseConfig with
        {
            NumClasses = o.NumClasses, InChannels = o.InChannels, ImageSize = size,
            DropPathRate = o.DropPathRate ?? baseConfig.DropPathRate,
        };
        return new Vim(config, o.Device);
    }
}
