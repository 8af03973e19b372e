using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>A plain ViT / DeiT configuration (timm <c>VisionTransformer</c>, class token, no distillation token).</summary>
public sealed record VitConfig(int EmbedDim, int Depth, int Heads, int PatchSize = 16, int ImageSize = 224, double MlpRatio = 4,
    double DropPathRate = 0.1);

/// <summary>
/// Vision Transformer as DeiT trains it (timm <c>vision_transformer.py</c>): patch_embed.proj (conv p×p stride p) →
/// prepend cls_token → add pos_embed → pre-norm blocks (LayerNorm eps 1e-6, MHSA with 1/√d, GELU MLP) → norm →
/// head on the class token. Parameter names are timm's state_dict keys. The papers' quadratic-cost comparison point.
/// </summary>
public sealed class Vit : ClassTokenModel
{
    /// <summary>The configuration with the options' image size and drop-path rate applied.</summary>
    public VitConfig Config { get; }
    public int InChannels { get; }

    private readonly PatchEmbed patch_embed;
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;
    private readonly ModuleList<VitBlock> blocks;
    private readonly LayerNorm norm;
    private Module<Tensor, Tensor> head;

    public int GridSize => Config.ImageSize / Config.PatchSize;

    public Vit(VitConfig config, ModelOptions options) : base(nameof(Vit))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        config = config with { ImageSize = options.ImageSize ?? config.ImageSize, DropPathRate = options.DropPathRate ?? config.DropPathRate };
        CheckPatchGrid(config.ImageSize, config.PatchSize);
        if (config.EmbedDim % config.Heads != 0)
            throw new ArgumentException($"EmbedDim {config.EmbedDim} must be divisible by Heads {config.Heads}.", nameof(config));
        Config = config;
        InChannels = options.InChannels;
        patch_embed = new PatchEmbed(options.InChannels, config.EmbedDim, config.PatchSize);
        // timm init: cls_token ~ N(0, 1e-6), pos_embed ~ trunc_normal(0.02), Linear trunc_normal(0.02) + zero bias.
        cls_token = Parameter(randn(1, 1, config.EmbedDim).Times(1e-6));
        pos_embed = Parameter(zeros(1, GridSize * GridSize + 1, config.EmbedDim));
        WeightInit.TruncNormal(pos_embed, 0.02);
        var rates = DropPath.LinearSchedule(config.DropPathRate, config.Depth);
        blocks = new ModuleList<VitBlock>(Enumerable.Range(0, config.Depth)
            .Select(i => new VitBlock(config.EmbedDim, config.Heads, config.MlpRatio, rates[i])).ToArray());
        norm = LayerNorm(config.EmbedDim, eps: 1e-6);
        NumClasses = options.NumClasses;
        head = CreateHead(config.EmbedDim, options.NumClasses, truncNormal: true);
        RegisterComponents();
        using (no_grad())
            foreach (var (_, m) in named_modules())
                if (m is Linear lin)
                {
                    WeightInit.TruncNormal(lin.weight!, 0.02);
                    lin.bias?.zero_();
                }
        options.Apply(this);
    }


    /// <summary>The normalised token sequence (batch, 1 + N, D), class token first.</summary>
    public override Tensor ForwardFeatures(Tensor x)
    {
        using var scope = NewDisposeScope();
        return norm.call(Run(x, Config.Depth, null)).MoveToOuterDisposeScope();
    }

    protected override int EmbedDim => Config.EmbedDim;
    protected override int PatchSize => Config.PatchSize;
    protected override int Depth => Config.Depth;
    protected override int Grid => GridSize;
    /// <summary>The class token comes first (timm <c>global_pool='token'</c>).</summary>
    protected override int ClassTokenIndex => 0;
    protected override string BlockPrefix => "blocks";
    protected override Module<Tensor, Tensor> Head { get => head; set => head = value; }

    /// <summary>Block outputs (un-normalised, as timm with <c>norm=False</c>).</summary>
    protected override IReadOnlyList<Tensor> BlockOutputs(Tensor x, int count)
    {
        var outputs = new List<Tensor>();
        Run(x, count, outputs);
        return outputs;
    }

    /// <summary>Embeds and runs the first <paramref name="count"/> blocks, collecting their outputs when asked.</summary>
    Tensor Run(Tensor x, int count, List<Tensor>? outputs)
    {
        long s = Config.ImageSize;
        if (x.dim() != 4 || x.shape[1] != InChannels || x.shape[2] != s || x.shape[3] != s)
            throw new ArgumentException($"Vit built for (batch, {InChannels}, {s}, {s}) got {Ops.ScanArguments.Fmt(x.shape)}; " +
                $"build it with ModelOptions.ImageSize or resample pos_embed with {nameof(ResamplePositionEmbedding)}.", nameof(x));
        var t = patch_embed.call(x);                                             // (B, N, D)
        t = cat([cls_token.expand(t.shape[0], -1, -1), t], dim: 1).Plus(pos_embed);
        int level = 0;
        foreach (var b in blocks.Take(count))
        {
            t = TapTokens(level++, b.call(t));
            outputs?.Add(t);
        }
        return t;
    }

    /// <summary>
    /// Resamples a (1, 1 + g·g, D) position embedding (class token first) to a new grid, as timm's
    /// <c>resample_abs_pos_embed</c>: bicubic interpolation of the patch part, class token kept. Used to build a model
    /// for another image size from a checkpoint trained at 224.
    /// </summary>
    public static Tensor ResamplePositionEmbedding(Tensor posEmbed, int newGrid)
    {
        if (posEmbed.dim() != 3 || posEmbed.shape[0] != 1)
            throw new ArgumentException($"pos_embed must be (1, 1 + g², D); got {Ops.ScanArguments.Fmt(posEmbed.shape)}.", nameof(posEmbed));
        long n = posEmbed.shape[1] - 1, d = posEmbed.shape[2];
        long g = (long)Math.Round(Math.Sqrt(n));
        if (g * g != n) throw new ArgumentException($"pos_embed has {n} patch positions, not a square grid.", nameof(posEmbed));
        if (newGrid < 1) throw new ArgumentOutOfRangeException(nameof(newGrid), newGrid, "expected ≥ 1");
        using var scope = NewDisposeScope();
        var cls = posEmbed.narrow(1, 0, 1);
        var grid = posEmbed.narrow(1, 1, n).reshape(1, g, g, d).permute(0, 3, 1, 2);
        var resized = nn.functional.interpolate(grid, size: [newGrid, newGrid], mode: InterpolationMode.Bicubic, align_corners: false);
        var flat = resized.permute(0, 2, 3, 1).reshape(1, (long)newGrid * newGrid, d);
        return cat([cls, flat], dim: 1).MoveToOuterDisposeScope();
    }
}

/// <summary>timm <c>PatchEmbed</c>: proj = Conv2d(in, D, p, stride p), then flatten to (B, N, D).</summary>
public sealed class PatchEmbed : Module<Tensor, Tensor>
{
    private readonly Conv2d proj;

    public PatchEmbed(int inChannels, int embedDim, int patchSize) : base(nameof(PatchEmbed))
    {
        proj = Conv2d(inChannels, embedDim, patchSize, stride: patchSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => proj.call(x).flatten(2).transpose(1, 2);
}

/// <summary>timm ViT <c>Block</c>: x + attn(norm1(x)), then x + mlp(norm2(x)), each with drop-path.</summary>
public sealed class VitBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly VitAttention attn;
    private readonly LayerNorm norm2;
    private readonly VitMlp mlp;
    private readonly DropPath drop_path;

    public VitBlock(int dim, int heads, double mlpRatio, double dropPath) : base(nameof(VitBlock))
    {
        norm1 = LayerNorm(dim, eps: 1e-6);
        attn = new VitAttention(dim, heads);
        norm2 = LayerNorm(dim, eps: 1e-6);
        mlp = new VitMlp(dim, (int)(dim * mlpRatio));
        drop_path = new DropPath(dropPath);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = x.Plus(drop_path.call(attn.call(norm1.call(x))));
        return x.Plus(drop_path.call(mlp.call(norm2.call(x))));
    }
}

/// <summary>timm <c>Mlp</c>: fc1 → GELU (exact erf) → fc2.</summary>
public sealed class VitMlp : Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public VitMlp(int dim, int hidden) : base(nameof(VitMlp))
    {
        fc1 = Linear(dim, hidden);
        fc2 = Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.call(nn.functional.gelu(fc1.call(x)));
}

/// <summary>
/// timm ViT <c>Attention</c>: qkv Linear(D, 3D) → heads → softmax(q kᵀ/√d) v → proj. Uses libtorch's
/// scaled_dot_product_attention.
/// </summary>
public sealed class VitAttention : Module<Tensor, Tensor>
{
    public int Heads { get; }
    private readonly Linear qkv;
    private readonly Linear proj;

    public VitAttention(int dim, int heads) : base(nameof(VitAttention))
    {
        Heads = heads;
        qkv = Linear(dim, 3 * dim);
        proj = Linear(dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], c = x.shape[2];
        var parts = qkv.call(x).reshape(b, n, 3, Heads, c / Heads).permute(2, 0, 3, 1, 4).unbind(0);   // 3 × (B, h, N, d)
        var o = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2]);
        return proj.call(o.transpose(1, 2).reshape(b, n, c)).MoveToOuterDisposeScope();
    }
}

/// <summary>DeiT variants (Touvron et al. 2021; timm <c>deit_*_patch16_224</c>) and a small-image <c>deit_nano</c>.</summary>
public sealed class VitFamily : IModelFamily
{
    public IEnumerable<ModelEntry> Entries =>
    [
        Entry("deit_small", new VitConfig(384, 12, 6), new ReportedFigures(22.1, 4.6, 79.8, "DeiT paper Table 1"),
            "DeiT-S: ViT-S/16, 12 blocks, dim 384, 6 heads"),
        Entry("deit_base", new VitConfig(768, 12, 12), new ReportedFigures(86.6, 17.6, 81.8, "DeiT paper Table 1"),
            "DeiT-B: ViT-B/16, 12 blocks, dim 768, 12 heads"),
        Entry("deit_nano", new VitConfig(96, 4, 3, PatchSize: 4, ImageSize: 28, DropPathRate: 0), null,
            "small-image ViT for 28×28/32×32 (patch 4, dim 96, 4 blocks, 3 heads); for quick training runs"),
    ];

    /// <summary>DeiT evaluates at crop 0.875, bicubic (deit <c>datasets.py</c>, timm <c>deit_*</c> pretrained_cfg).</summary>
    static ModelEntry Entry(string name, VitConfig config, ReportedFigures? reported, string description) =>
        new(name, "vit", config.ImageSize, o => new Vit(config, o), FlopConvention.Fvcore, reported, description)
        {
            Preprocessing = config.ImageSize == 224 ? Preprocessing.ImageNet() : Preprocessing.FashionMnist(config.ImageSize),
        };
}
