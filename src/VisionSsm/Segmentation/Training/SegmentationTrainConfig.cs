using System.Text.Json;
using VisionSsm.Training;

namespace VisionSsm.Segmentation.Training;

/// <summary>
/// Everything that defines a segmentation run (mmsegmentation's iteration-based schedule). Stored as the run folder's
/// <c>config.json</c> and inside every checkpoint, so <c>--resume</c> continues with exactly this recipe. Defaults are
/// the embedded recipe of <c>vssm segment train</c> (docs/segmentation.md §5): Fashion-MNIST canvases, upernet_vmamba_nano_s4.
/// </summary>
public sealed record SegmentationTrainConfig
{
    public string Model { get; init; } = "upernet_vmamba_nano_s4";
    /// <summary>Data directory (ADE20K, Pascal VOC or images/ + masks/ layout); null = the embedded Fashion-MNIST canvases.</summary>
    public string? Data { get; init; }
    /// <summary>Recipe preset the run started from (documentation only; its values are the fields below).</summary>
    public string? Recipe { get; init; }
    // The default schedule fills the 15-minute budget on two Zen 5 cores: batches of 32 (more canvases per second than
    // smaller batches, and more mIoU for the same time), AdamW at a high rate, short warmup, an evaluation and
    // checkpoint every quarter (docs/segmentation.md §5).
    public long Iterations { get; init; } = 7_600;
    public int BatchSize { get; init; } = 32;
    public double Lr { get; init; } = 8e-3;
    public double WeightDecay { get; init; } = 0.01;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Linear warmup length in iterations (mmengine <c>LinearLR</c>, from <see cref="WarmupRatio"/>·lr).</summary>
    public long WarmupIters { get; init; } = 30;
    public double WarmupRatio { get; init; } = 1e-6;
    /// <summary>Poly decay power after warmup (mmengine <c>PolyLR</c>, to <see cref="MinLr"/>).</summary>
    public double PolyPower { get; init; } = 1.0;
    public double MinLr { get; init; }
    /// <summary>Layer-wise lr decay rate (BEiT/Vim <c>LayerDecayOptimizerConstructor</c>); null = off.</summary>
    public double? LayerDecay { get; init; }
    /// <summary>lr multiplier of the backbone's parameters (mmseg <c>custom_keys={'backbone': dict(lr_mult=...)}</c>), in
    /// (0, 1]; 1 = off. Lets a pretrained backbone (<c>--backbone-checkpoint</c>) fine-tune slower than the new head.</summary>
    public double BackboneLrMult { get; init; } = 1.0;
    /// <summary>Substrings of parameter names exempt from weight decay (mmseg <c>paramwise_cfg.custom_keys</c> with decay_mult 0);
    /// null = the classification rule (1-D parameters, biases, position embeddings, class token, D).</summary>
    public string[]? NoDecayKeys { get; init; }
    public double ClipGrad { get; init; }
    public double EmaDecay { get; init; }
    public double? DropPath { get; init; }
    public double AuxWeight { get; init; } = 0.4;
    /// <summary>Training crop side; null = the model's crop (images smaller are padded with 0 / the ignore label).</summary>
    public int? CropSize { get; init; }
    /// <summary>Random resize ratio range of the training pipeline (mmseg <c>RandomResize</c> ratio_range); 1,1 = none.</summary>
    public double MinScale { get; init; } = 1.0;
    public double MaxScale { get; init; } = 1.0;
    public bool HFlip { get; init; } = true;
    /// <summary>Evaluate (and checkpoint) every N iterations; the last iteration always evaluates.</summary>
    public long EvalInterval { get; init; } = 1900;
    /// <summary>Test images evaluated at each interval (0 = all).</summary>
    public int EvalLimit { get; init; }
    /// <summary>"whole" or "slide" (sliding window with the crop size and <see cref="SlideStride"/>).</summary>
    public string TestMode { get; init; } = "whole";
    public int? SlideStride { get; init; }
    /// <summary>Classification checkpoint loaded into the backbone before training.</summary>
    public string? BackboneCheckpoint { get; init; }
    /// <summary>Canvas count of the embedded data (train, test), when <see cref="Data"/> is null.</summary>
    public int CanvasTrain { get; init; } = 250_000;
    public int CanvasTest { get; init; } = 1_000;
    /// <summary>Overlap cap of the embedded canvases (<see cref="Data.CanvasOptions.MaxOverlap"/>); null = the composer's default.</summary>
    public double? CanvasMaxOverlap { get; init; }
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    public string Device { get; init; } = "cpu";
    public int LogInterval { get; init; } = 25;
    /// <summary>Stop (and checkpoint) after this many iterations in total; null = run to <see cref="Iterations"/>.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>The optimiser part of the recipe.</summary>
    public AdamWSettings AdamW() => new(Lr, WeightDecay, Beta1, Beta2, Eps, NoDecayKeys, LayerDecay, BackboneLrMult);

    public string ToJson() => JsonSerializer.Serialize(this, TrainConfig.Json);

    public static SegmentationTrainConfig FromJson(string json) =>
        JsonSerializer.Deserialize<SegmentationTrainConfig>(json, TrainConfig.Json) ?? throw new FormatException("segmentation config JSON is empty");

    /// <summary>Checks ranges; the exception names the CLI option (property names in kebab case).</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string expected)
        {
            if (!ok) throw new ArgumentException($"--{name} = {value}: expected {expected}.", name);
        }
        Check(Iterations >= 1, "iters", Iterations, "≥ 1");
        Check(BatchSize >= 1, "batch-size", BatchSize, "≥ 1");
        Check(Lr > 0 && double.IsFinite(Lr), "lr", Lr, "a positive number");
        Check(WeightDecay >= 0, "weight-decay", WeightDecay, "≥ 0");
        Check(WarmupIters >= 0 && WarmupIters <= Iterations, "warmup-iters", WarmupIters, $"between 0 and --iters ({Iterations})");
        Check(WarmupRatio is > 0 and <= 1, "warmup-ratio", WarmupRatio, "in (0, 1]");
        Check(PolyPower > 0, "poly-power", PolyPower, "> 0");
        Check(MinLr >= 0 && MinLr < Lr, "min-lr", MinLr, "0 ≤ min-lr < lr");
        Check(LayerDecay is null or (> 0 and <= 1), "layer-decay", LayerDecay ?? 0, "in (0, 1]");
        Check(BackboneLrMult is > 0 and <= 1, "backbone-lr-mult", BackboneLrMult, "in (0, 1]");
        Check(ClipGrad >= 0, "clip-grad", ClipGrad, "≥ 0 (0 = off)");
        Check(EmaDecay is >= 0 and < 1, "ema-decay", EmaDecay, "0 (off) or 0 < decay < 1");
        Check(DropPath is null or (>= 0 and < 1), "drop-path", DropPath ?? 0, "0 ≤ p < 1");
        Check(AuxWeight >= 0, "aux-weight", AuxWeight, "≥ 0");
        Check(CropSize is null or >= 8, "crop-size", CropSize ?? 0, "≥ 8");
        Check(MinScale > 0 && MaxScale >= MinScale, "scale-range", $"{MinScale},{MaxScale}", "0 < min ≤ max");
        Check(EvalInterval >= 1, "eval-interval", EvalInterval, "≥ 1");
        Check(EvalLimit >= 0, "eval-limit", EvalLimit, "≥ 0 (0 = all)");
        Check(TestMode is "whole" or "slide", "test-mode", TestMode, "whole or slide");
        Check(SlideStride is null or >= 1, "slide-stride", SlideStride ?? 0, "≥ 1");
        Check(CanvasTrain >= 1 && CanvasTest >= 1, "canvases", $"{CanvasTrain},{CanvasTest}", "≥ 1 each");
        Check(CanvasMaxOverlap is null or (>= 0 and <= 1), "canvas-overlap", CanvasMaxOverlap ?? 0, "in [0, 1] (1 = no cap)");
    }
}
