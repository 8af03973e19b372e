using VisionSsm.Data;
using VisionSsm.Interop;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Cli;

/// <summary>`vssm export` end to end: ONNX with its parity line, predict --onnx agreeing with predict on the same weights, state dicts
/// that load back by name, and bad input (unknown format, another model's checkpoint, an unwritable output) failing with no file.</summary>
[Collection(SerialTrainingCollection.Name)]
public class ExportCliTests
{
    static string Weights(string dir, string model, int classes = 6)
    {
        string path = Path.Combine(dir, model + ".safetensors");
        manual_seed(9);
        using var source = ModelZoo.Create(model, new ModelOptions(classes, InChannels: 1));
        Safetensors.Save(path, source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach()));
        return path;
    }

    [Fact]
    public void OnnxExportPredictsAsOurRuntimeDoes()
    {
        string dir = CliHarness.TempDir("export-onnx");
        string weights = Weights(dir, "vmamba_nano");
        string onnx = Path.Combine(dir, "out", "vmamba_nano.onnx");
        var r = CliHarness.Run("export", "--model", "vmamba_nano", "--checkpoint", weights, "--format", "onnx", "--output", onnx,
            "--dynamic-batch", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(onnx));
        Assert.Matches(@"nodes \d+, max relative error \d\.\d+E-0\d\d", r.Out);
        Assert.Contains("batch 1 at 28², batch 2 at 28²", r.Out);   // the dynamic batch is checked at two sizes
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(onnx)!, ".tmp-*"));

        string img = Path.Combine(dir, "sample.png");
        ImageDecoder.Save(new ImageSample(Enumerable.Range(0, 28 * 28).Select(i => (i % 13) / 13f).ToArray(), 1, 28, 28, 0), img);
        var ours = CliHarness.Run("predict", "--checkpoint", weights, "--model", "vmamba_nano", "-k", "3", img);
        var ort = CliHarness.Run("predict", "--onnx", onnx, "-k", "3", img);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        Assert.True(ort.ExitCode == 0, ort.ToString());
        static (string Label, double P)[] Parse(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => (p[1], double.Parse(p[0].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var (a, b) = (Parse(ours.Out), Parse(ort.Out));
        Assert.Equal(3, a.Length);
        Assert.Equal(a.Select(x => x.Label), b.Select(x => x.Label));
        for (int i = 0; i < 3; i++) Assert.InRange(b[i].P, a[i].P - 0.011, a[i].P + 0.011);   // printed with 2 decimals
    }

    [Theory]
    [InlineData("pth")]
    [InlineData("safetensors")]
    public void StateDictExportLoadsBackByName(string format)
    {
        string dir = CliHarness.TempDir("export-sd");
        string weights = Weights(dir, "resnet_nano");
        string output = Path.Combine(dir, "resnet_nano_out." + format);
        var r = CliHarness.Run("export", "--model", "resnet_nano", "--checkpoint", weights, "--format", format, "--output", output, "--threads", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        var expected = Safetensors.Load(weights);
        var actual = PretrainedWeights.ReadStateDict(output);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, t) in expected) Assert.True(t.shape.SequenceEqual(actual[k].shape) && t.allclose(actual[k], 0, 0), k);
    }

    [Fact]
    public void UnknownFormatFailsWithoutAFile()
    {
        string dir = CliHarness.TempDir("export-bad");
        string output = Path.Combine(dir, "m.tflite");
        var r = CliHarness.Run("export", "--model", "resnet_nano", "--format", "tflite", "--output", output);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--format 'tflite'", r.Error);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void AnotherModelsCheckpointFailsWithoutAFile()
    {
        string dir = CliHarness.TempDir("export-mismatch");
        string weights = Weights(dir, "resnet_nano");
        string output = Path.Combine(dir, "vmamba.onnx");
        var r = CliHarness.Run("export", "--model", "vmamba_nano", "--checkpoint", weights, "--output", output, "--threads", "1");
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error:", r.Error.Trim());
        Assert.DoesNotContain("   at ", r.Error);
        Assert.False(File.Exists(output));
        Assert.Single(Directory.GetFiles(dir));   // only the weights
    }

    [Fact]
    public void UnwritableOutputFailsBeforeAnyWork()
    {
        string dir = CliHarness.TempDir("export-unwritable");
        string file = Path.Combine(dir, "a-file");
        File.WriteAllText(file, "x");
        string output = Path.Combine(file, "m.onnx");            // a path below a regular file
        var r = CliHarness.Run("export", "--model", "resnet_nano", "--output", output, "--threads", "1");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--output", r.Error);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void PredictNeedsExactlyOneModelSource()
    {
        var r = CliHarness.Run("predict", "x.png");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--onnx", r.Error);
    }
}
