using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>
/// A Vision Mamba configuration (docs/models/vim.md §1). The released models are patch 16 at 224², depth 24,
/// d_state 16, expand 2, RMSNorm eps 1e-5, class token in the middle, averaged directions. <see cref="ImageSize"/>
/// and <see cref="DropPathRate"/> are defaults that <see cref="ModelOptions"/> overrides.
/// </summary>
public sealed record VimConfig(int EmbedDim, int Depth = 24, int PatchSize = 16, int ImageSize = 224,
    int DState = 16, double DropPathRate = 0.0, double NormEps = 1e-5)
{
    public int GridSize => ImageSize / PatchSize;
    public int NumPatches => GridSize * GridSize;
    /// <summary>Index of the class token: M/2 (98 at 224²/16), <c>use_middle_cls_token</c>.</summary>
    public int ClsIndex => NumPatches / 2;
    public MambaConfig Mixer => new(EmbedDim, DState);

    /// <summary>docs/models/vim.md §1: per layer D·4D + 2×(mixer direction) + 2D·D + D, plus patch embed, cls, pos, norm_f, head.</summary>
    public long ParameterCount(int numClasses = 1000, int inChannels = 3)
    {
        long d = EmbedDim;
        long layer = BiMamba.ParameterCount(Mixer) + d;
        return Depth * layer + (inChannels * PatchSize * PatchSize * d + d) + d + (NumPatches + 1) * d + d + (d * numClasses + numClasses);
    }
}

/// <summary>
/// One Vim layer (<c>models_mamba.Block</c> with fused_add_norm, docs/models/vim.md §3): <c>r = r + DropPath(h)</c> (for the first
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
/// Vision Mamba (hustvl/Vim <c>models_mamba.VisionMamba</c>, docs/models/vim.md): 16×16 patch embedding, a class
/// token inserted in the middle of the sequence, absolute position embedding, a pre-norm residual stack of
/// bidirectional Mamba layers, a final RMSNorm and a linear head on the class token. Parameter names equal the
/// official state_dict keys (docs/models/vim.md §7), so official checkpoints load by name (<see cref="LoadStateDictResampled"/>).
/// </summary>
public sealed class Vim : ClassTokenModel
{
    /// <summary>The configuration with the options' image size and drop-path rate applied.</summary>
    public VimConfig Config { get; }
    public int InChannels { get; }

    private readonly PatchEmbed patch_embed;
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;
    private readonly ModuleList<VimBlock> layers;
    private readonly RmsNorm norm_f;
    private readonly DropPath drop_path;
    private Module<Tensor, Tensor> head;

    public Vim(VimConfig config, ModelOptions options) : base(nameof(Vim))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        config = config with { ImageSize = options.ImageSize ?? config.ImageSize, DropPathRate = options.DropPathRate ?? config.DropPathRate };
        CheckPatchGrid(config.ImageSize, config.PatchSize);
        Config = config;
        InChannels = options.InChannels;
        int d = config.EmbedDim;
        patch_embed = new PatchEmbed(options.InChannels, d, config.PatchSize);
        cls_token = Parameter(zeros(1, 1, d));
        pos_embed = Parameter(zeros(1, config.NumPatches + 1, d));
        // docs/models/vim.md §3: blocks use inter_dpr = [0] + linspace(0, rate, depth) (block i gets linspace[i-1]); the final
        // drop_path uses the full rate.
        var linspace = DropPath.LinearSchedule(config.DropPathRate, config.Depth);
        layers = new ModuleList<VimBlock>();
        for (int i = 0; i < config.Depth; i++)
            layers.Add(new VimBlock(config.Mixer, i == 0 ? 0.0 : linspace[i - 1], config.NormEps));
        norm_f = new RmsNorm(d, config.NormEps);
        drop_path = new DropPath(config.DropPathRate);
        NumClasses = options.NumClasses;
        head = CreateHead(d, options.NumClasses, truncNormal: true);   // docs/models/vim.md §6 segm_init_weights
        RegisterComponents();
        Initialise();
        options.Apply(this);
    }

    /// <summary>The drop-path rate of each block (the <c>inter_dpr</c> schedule of docs/models/vim.md §3).</summary>
    public IReadOnlyList<double> BlockDropPathRates => layers.Select(b => b.DropPathRate).ToList();

    public IReadOnlyList<VimBlock> Layers => layers.ToList();


    /// <summary>docs/models/vim.md §6: segm_init_weights on patch_embed (the head is initialised by CreateHead), trunc_normal(.02) on pos/cls, then _init_weights.</summary>
    void Initialise()
    {
        using var _ = no_grad();
        var embed = patch_embed.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var w = embed["proj.weight"];
        long fanIn = w.shape[1] * w.shape[2] * w.shape[3];
        WeightInit.TruncNormal(w, Math.Sqrt(1.0 / fanIn) / 0.87962566103423978);   // timm lecun_normal_
        embed["proj.bias"].zero_();
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
        if (x.dim() != 4 || x.shape[1] != InChannels || x.shape[2] != Config.ImageSize || x.shape[3] != Config.ImageSize)
            throw new ArgumentException(
                $"This Vim was built for inputs (batch, {InChannels}, {Config.ImageSize}, {Config.ImageSize}); got {Ops.ScanArguments.Fmt(x.shape)}. " +
                "Build it at another size with ModelOptions.ImageSize and load weights with LoadStateDictResampled.", nameof(x));
    }

    /// <summary>(batch, M+1, D): the token sequence after norm_f, the class token at index <see cref="VimConfig.ClsIndex"/>.</summary>
    public Tensor ForwardTokens(Tensor x)
    {
        using var outer = NewDisposeScope();
        return Run(x, Config.Depth, null).MoveToOuterDisposeScope();
    }

    /// <summary>The normalised token sequence (batch, M+1, D), class token at M/2: <see cref="ForwardTokens"/>.</summary>
    public override Tensor ForwardFeatures(Tensor x) => ForwardTokens(x);

    protected override int EmbedDim => Config.EmbedDim;
    protected override int PatchSize => Config.PatchSize;
    protected override int Depth => Config.Depth;
    protected override int Grid => Config.GridSize;
    /// <summary>The middle class token (docs/models/vim.md §5: <c>final_pool_type='none'</c>, <c>use_middle_cls_token</c>).</summary>
    protected override int ClassTokenIndex => Config.ClsIndex;
    protected override string BlockPrefix => "layers";
    protected override Module<Tensor, Tensor> Head { get => head; set => head = value; }

    /// <summary>
    /// Layer i's output is the residual stream after it, <c>residual + hidden</c> (un-normalised, drop-path off).
    /// </summary>
    protected override IReadOnlyList<Tensor> BlockOutputs(Tensor x, int count)
    {
        var streams = new List<Tensor>();
        Run(x, count, streams);
        return streams;
    }

    /// <summary>
    /// Runs the first <paramref name="count"/> layers. With <paramref name="streams"/> it collects each layer's residual
    /// stream (r + h) and skips the final norm; otherwise it returns norm_f's output.
    /// </summary>
    Tensor Run(Tensor x, int count, List<Tensor>? streams)
    {
        CheckInput(x);
        var t = patch_embed.call(x);                                               // (B, M, D)
        long b = t.shape[0];
        int mid = Config.ClsIndex;
        var cls = cls_token.expand(b, -1, -1);
        t = cat([t.narrow(1, 0, mid), cls, t.narrow(1, mid, t.shape[1] - mid)], 1).Plus(pos_embed);   // docs/models/vim.md §2
        Tensor hidden = t;
        Tensor? residual = null;
        int level = 0;
        foreach (var layer in layers.Take(count))
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
            if (Tapped)
            {
                // The tapped stream r + h continues as the residual with a zero hidden state: the next add (h + r) gives the same values.
                residual = TapTokens(level, r.Plus(h));
                hidden = zeros_like(h);
            }
            level++;
            streams?.Add(Tapped ? residual.alias() : r.Plus(h));   // the residual handle is disposed next iteration
        }
        if (streams is not null) return t;
        // docs/models/vim.md §3 end: out = norm_f(r + DropPath_f(h)).
        bool dropPathIsIdentity = !drop_path.training || drop_path.Probability == 0;
        var (final, _) = norm_f.AddAndNorm(dropPathIsIdentity ? hidden : drop_path.call(hidden), residual);
        return final;
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

/// <summary>The Vim variants in the zoo (docs/models/vim.md §1), plus a small-image <c>vim_nano</c>.</summary>
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

    static ModelEntry Entry(string name, VimConfig config, ReportedFigures? reported, string description) =>
        new(name, "vim", config.ImageSize, o => new Vim(config, o), FlopConvention.Fvcore, reported, description)
        {
            Preprocessing = config.ImageSize == 224 ? Preprocessing.ImageNet() : Preprocessing.FashionMnist(config.ImageSize),
        };
}
