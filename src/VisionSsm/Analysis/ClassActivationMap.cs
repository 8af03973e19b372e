using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>How the target layer's activations A and gradients G combine into a map.</summary>
public enum CamMethod
{
    /// <summary>Grad-CAM (Selvaraju et al. 2017): <c>relu(Σ_k mean_{h,w}(G_k) · A_k)</c>.</summary>
    GradCam,
    /// <summary>HiResCAM (Draelos &amp; Carin 2020): <c>relu(Σ_k G_k ⊙ A_k)</c>, no pooling of the gradient.</summary>
    HiResCam,
}

/// <summary>
/// One class activation map: the raw map on the target level's grid (after the ReLU, before normalisation), the
/// min–max normalised map resized to the input, and the class it explains with its logit and probability.
/// </summary>
public sealed record CamResult(double[] Map, int Height, int Width, double[] Upsampled, int ImageHeight, int ImageWidth,
    int ClassIndex, double Logit, double Probability, int Level, CamMethod Method);

/// <summary>
/// Grad-CAM and HiResCAM for any zoo model (vGamba §5.4, Fig. 2; pytorch-grad-cam's <c>base_cam.py</c>,
/// <c>grad_cam.py</c>, <c>hirescam.py</c>). The target layer is a <see cref="IVisionModel.FeatureInfo"/> level, reached
/// through <see cref="VisionModel.TapLevels"/>: the level's (B, C, h, w) map, with the class token already removed for
/// the plain models. The target is the class logit (pytorch-grad-cam's <c>ClassifierOutputTarget</c>). docs/analysis.md §2.
/// </summary>
public static class ClassActivationMap
{
    /// <summary>
    /// The map (B, h, w) from activations and gradients (both (B, C, h, w)): Grad-CAM weights each channel by its
    /// gradient's spatial mean, HiResCAM multiplies element-wise; both sum over channels and apply a ReLU.
    /// </summary>
    public static Tensor Combine(Tensor activations, Tensor gradients, CamMethod method)
    {
        if (activations.dim() != 4 || !activations.shape.SequenceEqual(gradients.shape))
            throw new ArgumentException($"activations {Ops.ScanArguments.Fmt(activations.shape)} and gradients {Ops.ScanArguments.Fmt(gradients.shape)} " +
                                        "must both be (B, C, h, w).", nameof(gradients));
        using var scope = NewDisposeScope();
        var weights = method == CamMethod.GradCam ? gradients.mean([2L, 3L], keepdim: true) : gradients;
        return nn.functional.relu((weights * activations).sum(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The CAM of one image <paramref name="input"/> (1, C, H, W) for class <paramref name="classIndex"/> (null = the
    /// predicted class) at level <paramref name="level"/> (null = the last). The model is put in eval mode.
    /// </summary>
    public static CamResult Compute(VisionModel model, Tensor input, CamMethod method = CamMethod.GradCam, int? classIndex = null, int? level = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (input.dim() != 4 || input.shape[0] != 1)
            throw new ArgumentException($"expected one image (1, C, H, W); got {Ops.ScanArguments.Fmt(input.shape)}.", nameof(input));
        int levels = model.FeatureInfo.Count;
        int target = level ?? levels - 1;
        if (target < 0 || target >= levels)
            throw new ArgumentOutOfRangeException(nameof(level), target, $"level {target} is outside the valid range 0..{levels - 1} of {model.GetType().Name}'s FeatureInfo.");
        if (model.NumClasses < 1) throw new ArgumentException("the model has no classifier (NumClasses 0); a CAM needs class logits.", nameof(model));
        if (classIndex is { } k && (k < 0 || k >= model.NumClasses))
            throw new ArgumentOutOfRangeException(nameof(classIndex), k, $"class {k} is outside 0..{model.NumClasses - 1}.");
        model.eval();
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        Tensor? captured = null;
        Tensor logits;
        using (model.TapLevels((i, map) =>
               {
                   if (i == target)
                   {
                       // The same tensor the model continues with, under a handle the model's dispose scopes do not own.
                       captured?.Dispose();
                       captured = map.alias().DetachFromDisposeScope();
                   }
                   return map;
               }))
            logits = model.forward(input.detach());
        if (captured is null) throw new InvalidOperationException($"{model.GetType().Name} did not produce level {target} in its forward pass.");
        using var activations = captured;
        int cls = classIndex ?? (int)logits[0].argmax().item<long>();
        var score = logits[0, cls];
        var probability = nn.functional.softmax(logits[0].to(ScalarType.Float64), 0)[cls].item<double>();
        if (!activations.requires_grad) throw new InvalidOperationException("the target level does not require a gradient (are the parameters frozen?).");
        var g = autograd.grad([score], [activations])[0];
        var cam = Combine(activations.detach(), g, method).to(ScalarType.Float64)[0];     // (h, w)
        int h = (int)cam.shape[0], w = (int)cam.shape[1];
        int imageH = (int)input.shape[2], imageW = (int)input.shape[3];
        // pytorch-grad-cam's scale_cam_image: min-max normalise, then a bilinear resize to the input.
        var min = cam.min();
        var range = cam.max() - min;
        var normalised = (cam - min).div(range.PlusScalar(1e-7));
        var up = nn.functional.interpolate(normalised.reshape(1, 1, h, w), size: [imageH, imageW], mode: InterpolationMode.Bilinear, align_corners: false);
        return new CamResult(cam.cpu().data<double>().ToArray(), h, w, up.cpu().contiguous().data<double>().ToArray(), imageH, imageW,
            cls, score.to(ScalarType.Float64).item<double>(), probability, target, method);
    }
}
