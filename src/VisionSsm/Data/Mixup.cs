using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Data;

/// <summary>
/// timm <c>Mixup</c> in mode "batch" (timm/data/mixup.py; recipe in docs/training.md §1: mixup 0.8, cutmix 1.0,
/// prob 1, switch 0.5, smoothing 0.1). Per batch, with probability <see cref="Prob"/>: choose CutMix with probability
/// <see cref="SwitchProb"/> (when both alphas are &gt; 0) and draw λ ~ Beta(α, α) of the chosen method.
/// Mixup: x ← λ·x + (1 − λ)·x.flip(0). CutMix: a box of side √(1 − λ)·(H, W) centred uniformly, clipped to the image,
/// is pasted from x.flip(0), and λ is corrected to the kept area 1 − box/(H·W). Targets are
/// λ·smooth(y) + (1 − λ)·smooth(y.flip(0)) with smooth(y) = one-hot·(1 − ε) + ε/K. With both alphas 0 (or
/// Prob 0) it only produces label-smoothed one-hot targets.
/// </summary>
public sealed class Mixup : IBatchTransform
{
    public Mixup(double mixupAlpha = 0.8, double cutmixAlpha = 1.0, double prob = 1.0, double switchProb = 0.5,
        double labelSmoothing = 0.1, bool correctLambda = true)
    {
        if (mixupAlpha < 0) throw new ArgumentOutOfRangeException(nameof(mixupAlpha), mixupAlpha, "expected ≥ 0 (0 = off).");
        if (cutmixAlpha < 0) throw new ArgumentOutOfRangeException(nameof(cutmixAlpha), cutmixAlpha, "expected ≥ 0 (0 = off).");
        if (prob is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(prob), prob, "expected a probability in [0, 1].");
        if (switchProb is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(switchProb), switchProb, "expected a probability in [0, 1].");
        if (labelSmoothing is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "expected 0 ≤ ε < 1.");
        MixupAlpha = mixupAlpha; CutmixAlpha = cutmixAlpha; Prob = prob; SwitchProb = switchProb;
        LabelSmoothing = labelSmoothing; CorrectLambda = correctLambda;
    }

    public double MixupAlpha { get; }
    public double CutmixAlpha { get; }
    public double Prob { get; }
    public double SwitchProb { get; }
    public double LabelSmoothing { get; }
    public bool CorrectLambda { get; }

    /// <summary>λ and the method for one batch (timm <c>_params_per_batch</c>); λ = 1 means no mixing.</summary>
    public (double Lambda, bool UseCutMix) SampleParams(Random rng)
    {
        if (!(MixupAlpha > 0 || CutmixAlpha > 0) || rng.NextDouble() >= Prob) return (1.0, false);
        if (MixupAlpha > 0 && CutmixAlpha > 0)
        {
            bool cut = rng.NextDouble() < SwitchProb;
            return (rng.Beta(cut ? CutmixAlpha : MixupAlpha, cut ? CutmixAlpha : MixupAlpha), cut);
        }
        return MixupAlpha > 0 ? (rng.Beta(MixupAlpha, MixupAlpha), false) : (rng.Beta(CutmixAlpha, CutmixAlpha), true);
    }

    /// <summary>timm <c>rand_bbox</c> + <c>cutmix_bbox_and_lam</c>: the box [yl, yh) × [xl, xh) and the λ of the kept area.</summary>
    public static (int Yl, int Yh, int Xl, int Xh, double Lambda) CutMixBox(int height, int width, double lambda, Random rng, bool correctLambda = true)
    {
        double ratio = Math.Sqrt(1 - lambda);
        int cutH = (int)(height * ratio), cutW = (int)(width * ratio);
        int cy = rng.Next(height), cx = rng.Next(width);
        int yl = Math.Clamp(cy - cutH / 2, 0, height), yh = Math.Clamp(cy + cutH / 2, 0, height);
        int xl = Math.Clamp(cx - cutW / 2, 0, width), xh = Math.Clamp(cx + cutW / 2, 0, width);
        if (correctLambda) lambda = 1 - (double)(yh - yl) * (xh - xl) / ((double)height * width);
        return (yl, yh, xl, xh, lambda);
    }

    public (Tensor Images, Tensor Targets) Apply(Tensor images, Tensor labels, int numClasses, Random rng) =>
        ApplyWithLambda(images, labels, numClasses, rng).Result;

    /// <summary><see cref="Apply"/> that also reports the λ used (after the CutMix area correction) and the method.</summary>
    public ((Tensor Images, Tensor Targets) Result, double Lambda, bool UsedCutMix) ApplyWithLambda(Tensor images, Tensor labels, int numClasses, Random rng)
    {
        if (images.dim() != 4) throw new ArgumentException($"images has shape [{string.Join(", ", images.shape)}]; expected (B, C, H, W).", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"labels has shape [{string.Join(", ", labels.shape)}]; expected ({images.shape[0]}).", nameof(labels));
        if (numClasses <= 0) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "expected a positive class count.");
        var (lambda, cut) = SampleParams(rng);
        Tensor mixed = images;
        if (lambda < 1)
        {
            using var flipped = images.flip(0);
            if (cut)
            {
                int h = (int)images.shape[2], w = (int)images.shape[3];
                var (yl, yh, xl, xh, lam) = CutMixBox(h, w, lambda, rng, CorrectLambda);
                lambda = lam;
                mixed = images.clone();
                if (yh > yl && xh > xl)
                {
                    using var dst = mixed.narrow(2, yl, yh - yl).narrow(3, xl, xh - xl);
                    using var src = flipped.narrow(2, yl, yh - yl).narrow(3, xl, xh - xl);
                    dst.copy_(src);
                }
            }
            else
            {
                using var a = images.Times(lambda);
                using var b = flipped.Times(1 - lambda);
                mixed = a.Plus(b);
            }
        }
        using var y1 = SmoothOneHot(labels, numClasses, LabelSmoothing);
        Tensor targets;
        if (lambda < 1)
        {
            using var flippedLabels = labels.flip(0);
            using var y2 = SmoothOneHot(flippedLabels, numClasses, LabelSmoothing);
            using var a = y1.Times(lambda);
            using var b = y2.Times(1 - lambda);
            targets = a.Plus(b);
        }
        else targets = y1.clone();
        return ((mixed, targets), lambda, cut);
    }

    /// <summary>timm <c>one_hot</c> with smoothing: off = ε/K, on = 1 − ε + ε/K; float32 (B, K) on the labels' device.</summary>
    public static Tensor SmoothOneHot(Tensor labels, int numClasses, double smoothing)
    {
        double off = smoothing / numClasses, on = 1 - smoothing + off;
        using var idx = labels.to_type(ScalarType.Int64);
        using var hot = nn.functional.one_hot(idx, numClasses);
        using var f = hot.to_type(ScalarType.Float32);
        return f.Times(on - off).PlusScalarInPlace(off);
    }

    public override string ToString() =>
        $"Mixup(mixup={MixupAlpha}, cutmix={CutmixAlpha}, prob={Prob}, switch={SwitchProb}, smoothing={LabelSmoothing})";
}
