using System.Text.Json;
using System.Text.Json.Serialization;

namespace VisionSsm.Training;

/// <summary>
/// Everything that defines a training run (timm <c>train.py</c> arguments). Stored as config JSON in the run folder
/// and inside every checkpoint, so <c>--resume</c> continues with exactly the same recipe.
/// Defaults are the embedded Fashion-MNIST recipe (docs/training.md §2).
/// </summary>
public sealed record TrainConfig
{
    public string Model { get; init; } = "vmamba_nano";
    /// <summary>Data directory; null = the embedded default (Debian's Fashion-MNIST idx files).</summary>
    public string? Data { get; init; }
    public int Epochs { get; init; } = 8;
    public int BatchSize { get; init; } = 96;
    /// <summary>Peak learning rate (after warmup).</summary>
    public double Lr { get; init; } = 2e-3;
    /// <summary>Start of the linear warmup (timm warmup_lr).</summary>
    public double WarmupLr { get; init; } = 1e-6;
    /// <summary>End of the cosine (timm min_lr).</summary>
    public double MinLr { get; init; } = 1e-5;
    public double WeightDecay { get; init; } = 0.05;
    public double WarmupEpochs { get; init; } = 0.5;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double DropPath { get; init; }
    /// <summary>EMA decay; 0 disables the EMA.</summary>
    public double EmaDecay { get; init; }
    /// <summary>Max global gradient norm; 0 disables clipping.</summary>
    public double ClipGrad { get; init; }
    public double Smoothing { get; init; } = 0.1;
    public double Mixup { get; init; }
    public double CutMix { get; init; }
    /// <summary>RandAugment policy (timm string, e.g. <c>rand-m9-mstd0.5-inc1</c>); null = none.</summary>
    public string? AutoAugment { get; init; }
    /// <summary>Random-erasing probability.</summary>
    public double ReProb { get; init; }
    /// <summary>Random horizontal flip (off for digits; on for natural images and clothes).</summary>
    public bool HFlip { get; init; } = true;
    /// <summary>Random crop with zero padding (pixels), the classic small-image augmentation; 0 = none.</summary>
    public int CropPadding { get; init; }
    /// <summary>Input side; null = the data set's native size.</summary>
    public int? ImageSize { get; init; }
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    public string Device { get; init; } = "cpu";
    /// <summary>Log/progress granularity in steps for plain-text output.</summary>
    public int LogInterval { get; init; } = 50;
    /// <summary>Stop after this many optimiser steps in total (tests, profiling); null = run every epoch.</summary>
    public long? MaxSteps { get; init; }
    /// <summary>Also write last.ckpt every N optimiser steps (0 = only at epoch ends, on --max-steps and on Ctrl+C), so a
    /// killed run loses at most N steps.</summary>
    public int CheckpointEvery { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainConfig FromJson(string json) =>
        JsonSerializer.Deserialize<TrainConfig>(json, Json) ?? throw new FormatException("config JSON is empty");

    /// <summary>Checks ranges and names the bad argument (CLI option names match the property names).</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string expected)
        {
            if (!ok) throw new ArgumentException($"--{name} = {value}: expected {expected}.", name);
        }
        Check(Epochs >= 1, "epochs", Epochs, "≥ 1");
        Check(CheckpointEvery >= 0, "checkpoint-every", CheckpointEvery, "0 (epoch ends only) or a positive number of steps");
        Check(BatchSize >= 1, "batch-size", BatchSize, "≥ 1");
        Check(Lr > 0 && double.IsFinite(Lr), "lr", Lr, "a positive number");
        Check(WeightDecay >= 0, "weight-decay", WeightDecay, "≥ 0");
        Check(WarmupEpochs >= 0 && WarmupEpochs <= Epochs, "warmup-epochs", WarmupEpochs, $"between 0 and --epochs ({Epochs})");
        Check(DropPath is >= 0 and < 1, "drop-path", DropPath, "0 ≤ p < 1");
        Check(EmaDecay is >= 0 and < 1, "ema-decay", EmaDecay, "0 (off) or 0 < decay < 1");
        Check(ClipGrad >= 0, "clip-grad", ClipGrad, "≥ 0 (0 = off)");
        Check(Smoothing is >= 0 and < 1, "smoothing", Smoothing, "0 ≤ ε < 1");
        Check(Mixup >= 0, "mixup", Mixup, "≥ 0 (Beta(α, α); 0 = off)");
        Check(CutMix >= 0, "cutmix", CutMix, "≥ 0 (Beta(α, α); 0 = off)");
        Check(ReProb is >= 0 and <= 1, "reprob", ReProb, "a probability in [0, 1]");
        Check(ImageSize is null or >= 1, "img-size", ImageSize ?? 0, "≥ 1");
        Check(CropPadding >= 0, "crop-padding", CropPadding, "≥ 0");
    }
}
