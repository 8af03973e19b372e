using VisionSsm.Data;
using VisionSsm.Models;
using VisionSsm.Tests.Interop;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Cli;

[Collection(SerialTrainingCollection.Name)]
public class OfficialWeightsCliTests
{
    [Fact]
    public void PredictTakesAnOfficialFileWithModelAndLabelsByIndex()
    {
        string dir = CliHarness.TempDir("official");
        string weights = Path.Combine(dir, "deit_nano_official.pth");
        using (var source = ModelZoo.Create("deit_nano", new ModelOptions(6, InChannels: 1)))
            OfficialCheckpointFile.Write(weights, source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float16)));
        string img = Path.Combine(dir, "sample.png");
        ImageDecoder.Save(new ImageSample(Enumerable.Range(0, 28 * 28).Select(i => (i % 11) / 11f).ToArray(), 1, 28, 28, 0), img);

        var r = CliHarness.Run("predict", "--checkpoint", weights, "--model", "deit_nano", "-k", "3", img);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        foreach (var line in lines.Skip(1))
        {
            // "  p%  label (index)": official files carry no names, so the label is the index.
            var parts = line.Trim().Split([' '], StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal($"({parts[1]})", parts[2]);
            Assert.InRange(int.Parse(parts[1]), 0, 5);
        }

        var missing = CliHarness.Run("predict", "--checkpoint", weights, img);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("--model", missing.Error);
        Assert.DoesNotContain("   at ", missing.Error);
    
    }

    [Fact]
    public void EvalTakesAnOfficialFileWithTheDataSetsClassNames()
    {
        string dir = CliHarness.TempDir("official-eval");
        string data = CliHarness.WriteIdx(Path.Combine(dir, "data"), train: 8, test: 8, size: 28, classes: 4);
        string weights = Path.Combine(dir, "resnet_nano.safetensors");
        using (var source = ModelZoo.Create("resnet_nano", new ModelOptions(10, InChannels: 1)))
            VisionSsm.Interop.Safetensors.Save(weights, source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach()));
        var r = CliHarness.Run("eval", "--checkpoint", weights, "--model", "resnet_nano", "--data", data);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("resnet_nano", r.Out);
        Assert.Contains("test: top-1 ", r.Out);
        var wrong = CliHarness.Run("eval", "--checkpoint", weights, "--data", data);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("--model", wrong.Error);
    }
}
