using System.Text.Json;
using VisionSsm.Detection.Coco;
using VisionSsm.Detection.Data.Transforms;
using VisionSsm.Segmentation.Training;
using VisionSsm.Training;

namespace VisionSsm.Detection.Training;

/// <summary>
/// Everything that defines a detection run (mmdetection's epoch-based schedule, stepped per iteration). Stored as the
/// run folder's <c>config.json</c> and inside every checkpoint, so <c>--resume</c> continues with exactly this recipe.
/// Defaults are the embedded recipe of <c>vssm detect train</c> (docs/detection.md §10): the Fashion-MNIST detection
/// canvases written as COCO files, the small Mask R-CNN, batch 4 (more updates per image won a one-epoch A/B against 8),
/// 5 epochs with the lr ×0.1 for the last.
/// </summary>
public sealed record DetectionTrainConfig
{
    public string Model { get; init; } = "maskrcnn_vmamba_nano";
    /// <summary>COCO folder (annotations/instances_*.json + image folders); null = the composed canvases in <see cref="CanvasDirectory"/>.</summary>
    public string? Data { get; init; }
    /// <summary>Where the embedded canvases are written (and read back as COCO files) when <see cref="Data"/> is null;
    /// null = <c>data/fashion-detection-canvases-TRAINxTEST</c> under the working directory.</summary>
    public string? CanvasDirectory { get; init; }
    /// <summary>Recipe preset the run started from (documentation only; its values are the fields below).</summary>
    public string? Recipe { get; init; }
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 4;
    public double Lr { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.05;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Substrings of parameter names exempt from weight decay; null = 1-D parameters (norms), biases, embeddings.</summary>
    public string[]? NoDecayKeys { get; init; }
    /// <summary>Linear warmup over this many iterations from <see cref="WarmupRatio"/>·lr (mmengine <c>LinearLR</c>, by iteration).</summary>
    public long WarmupIters { get; init; } = 50;
    public double WarmupRatio { get; init; } = 0.001;
    /// <summary>Epochs at whose start the lr is multiplied by <see cref="Gamma"/> (mmengine <c>MultiStepLR</c>, by epoch).</summary>
    public int[] Milestones { get; init; } = [4];
    public double Gamma { get; init; } = 0.1;
    public double ClipGrad { get; init; } = 10;
    /// <summary>Keep-ratio resize target (long side, short side); several short sides = multi-scale training (one drawn per image).</summary>
    public int ScaleLong { get; init; } = 96;
    public int[] ScaleShort { get; init; } = [96];
    public double FlipProbability { get; init; } = 0.5;
    public int SizeDivisor { get; init; } = 32;
    /// <summary>Boxes reaching outside their image: clip (mmdetection) or reject with an error.</summary>
    public BoxPolicy BoxPolicy { get; init; } = BoxPolicy.Reject;
    /// <summary>Evaluate (and checkpoint) every N epochs; the last epoch always evaluates.</summary>
    public int EvalInterval { get; init; } = 2;
    /// <summary>Test images per evaluation (0 = all).</summary>
    public int EvalLimit { get; init; }
    /// <summary>Canvas counts of the embedded data (train, test).</summary>
    public int CanvasTrain { get; init; } = 4000;
    public int CanvasTest { get; init; } = 300;
    /// <summary>Overlap cap of the embedded canvases (<see cref="Segmentation.Data.CanvasOptions.MaxOverlap"/>); null = the detection composer's default.</summary>
    public double? CanvasMaxOverlap { get; init; }
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    public string Device { get; init; } = "cpu";
    public int LogInterval { get; init; } = 25;
    /// <summary>Stop (and checkpoint) after this many iterations in total; null = run all epochs.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>The folder the run reads: <see cref="Data"/>, else the canvas folder.</summary>
    public string DataRoot() => Data ?? CanvasDirectory ?? Path.Combine("data", $"fashion-detection-canvases-{CanvasTrain}x{CanvasTest}{CapSuffix(CanvasOptions().Canvas.MaxOverlap)}");

    /// <summary>The composer settings of the embedded canvases this config names.</summary>
    public Data.DetectionCanvasOptions CanvasOptions()
    {
        var o = new Data.DetectionCanvasOptions();
        var c = o.Canvas with { TrainCount = CanvasTrain, TestCount = CanvasTest };
        return o with { Canvas = CanvasMaxOverlap is { } cap ? c with { MaxOverlap = cap } : c };
    }

    // Canvases with another overlap cap are other data, so they get their own folder (the uncapped ones keep the plain name).
    static string CapSuffix(double cap) => cap < 1 ? $"-cap{cap.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "";

    public AdamWSettings AdamW() => new(Lr, WeightDecay, Beta1, Beta2, Eps, NoDecayKeys);

    public DetectionPipeline Pipeline() => new(ScaleLong, ScaleShort, FlipProbability);

    public string ToJson() => JsonSerializer.Serialize(this, TrainConfig.Json);

    public static DetectionTrainConfig FromJson(string json) =>
        JsonSerializer.Deserialize<DetectionTrainConfig>(json, TrainConfig.Json) ?? throw new FormatException("detection config JSON is empty");

    /// <summary>Checks ranges; the exception names the CLI option.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string expected)
        {
            if (!ok) throw new ArgumentException($"--{name} = {value}: expected {expected}.", name);
        }
        Check(Epochs >= 1, "epochs", Epochs, "≥ 1");
        Check(BatchSize >= 1, "batch-size", BatchSize, "≥ 1");
        Check(Lr > 0 && double.IsFinite(Lr), "lr", Lr, "a positive number");
        Check(WeightDecay >= 0, "weight-decay", WeightDecay, "≥ 0");
        Check(WarmupIters >= 0, "warmup-iters", WarmupIters, "≥ 0");
        Check(WarmupRatio is > 0 and <= 1, "warmup-ratio", WarmupRatio, "in (0, 1]");
        Check(Milestones.All(m => m >= 1) && Milestones.SequenceEqual(Milestones.Order()), "milestones", string.Join(",", Milestones), "ascending epochs ≥ 1");
        Check(Gamma is > 0 and <= 1, "gamma", Gamma, "in (0, 1]");
        Check(ClipGrad >= 0, "clip-grad", ClipGrad, "≥ 0 (0 = off)");
        Check(ScaleLong >= 8 && ScaleShort.Length >= 1 && ScaleShort.All(s => s >= 8), "scale", $"{ScaleLong},{string.Join(",", ScaleShort)}", "LONG,SHORT[,SHORT…] sides ≥ 8");
        Check(FlipProbability is >= 0 and <= 1, "flip", FlipProbability, "a probability in [0, 1]");
        Check(SizeDivisor >= 1, "size-divisor", SizeDivisor, "≥ 1");
        Check(EvalInterval >= 1, "eval-interval", EvalInterval, "≥ 1 epoch");
        Check(EvalLimit >= 0, "eval-limit", EvalLimit, "≥ 0 (0 = all)");
        Check(CanvasTrain >= 1 && CanvasTest >= 1, "canvases", $"{CanvasTrain},{CanvasTest}", "≥ 1 each");
        Check(CanvasMaxOverlap is null or (>= 0 and <= 1), "canvas-overlap", CanvasMaxOverlap ?? 0, "in [0, 1] (1 = no cap)");
    }
}
