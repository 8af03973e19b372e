using VisionSsm.Analysis;
using VisionSsm.Models;
using Xunit;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Analysis;

/// <summary>ERF and CAM run on one small variant of every family, through the model API only (float32, 28²).</summary>
public class AnalysisFamilyTests
{
    public static TheoryData<string> Families => new() { "vmamba_nano", "resnet_nano", "vgamba_nano", "vim_nano", "deit_nano" };

    [Theory]
    [MemberData(nameof(Families))]
    public void ErfAndCamOfEveryFamily(string name)
    {
        using var scope = NewDisposeScope();
        using var subject = AnalysisSubject.Open(name, size: 28, seed: 1);
        var inputs = new AnalysisInputs().Tensors(2, subject.Preprocessing, subject.Dtype, seed: 1).ToList();
        var erf = EffectiveReceptiveField.Compute(subject.Net, inputs);
        Assert.Equal((28, 28, 2, 0), (erf.Height, erf.Width, erf.Images, erf.Skipped));
        Assert.All(erf.Values, v => Assert.True(double.IsFinite(v) && v >= 0));
        Assert.True(erf.Values.Max() > 0, $"{name}: the centre unit has no gradient");

        var level = subject.Net.FeatureInfo[^1];
        foreach (var method in new[] { CamMethod.GradCam, CamMethod.HiResCam })
        {
            var cam = ClassActivationMap.Compute(subject.Net, inputs[0], method);
            int side = (28 + level.Reduction - 1) / level.Reduction;
            Assert.Equal((side, side, subject.Net.FeatureInfo.Count - 1), (cam.Height, cam.Width, cam.Level));
            Assert.Equal(28 * 28, cam.Upsampled.Length);
            Assert.All(cam.Map, v => Assert.True(double.IsFinite(v) && v >= 0));
            Assert.InRange(cam.Probability, 0, 1);
        }
        // Another level than the last.
        var first = ClassActivationMap.Compute(subject.Net, inputs[0], CamMethod.GradCam, classIndex: 3, level: 0);
        Assert.Equal((0, 3), (first.Level, first.ClassIndex));
    }
}
