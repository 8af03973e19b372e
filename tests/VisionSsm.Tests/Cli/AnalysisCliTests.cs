using System.Text.Json;
using VisionSsm.Data;
using Xunit;

namespace VisionSsm.Tests.Cli;

[Collection(SerialTrainingCollection.Name)]
public class AnalysisCliTests
{
    static CliHarness.Outcome Run(params string[] args) => CliHarness.Run([.. args, "--threads", "1"]);

    [Fact]
    public void BadInput()
    {
        string dir = CliHarness.TempDir("analysis-bad");
        CliHarness.Fails(Run("erf", "--model", "nope", "-o", dir), "Unknown model 'nope'");
        CliHarness.Fails(Run("cam", "--model", "nope", "-o", dir), "Unknown model 'nope'");
        CliHarness.Fails(Run("erf", "--models", "resnet_nano,nope", "-o", dir), "Unknown model 'nope'");
        CliHarness.Fails(Run("cam", "--model", "resnet_nano", "--layer", "7", "-o", dir), "--layer 7", "0..3");
        CliHarness.Fails(Run("cam", "--model", "resnet_nano", "--class", "1000", "-o", dir), "--class 1000");
        CliHarness.Fails(Run("cam", "--model", "resnet_nano", "--method", "scorecam", "-o", dir), "--method", "gradcam or hirescam");
        CliHarness.Fails(Run("erf", "--model", "deit_nano", "--size", "10", "-o", dir), "--size 10", "deit_nano");
        CliHarness.Fails(Run("cam", "--model", "vgamba_nano", "--size", "0", "-o", dir), "--size 0");
        CliHarness.Fails(Run("erf", "--model", "resnet_nano", "--count", "-1", "-o", dir), "--count");
        string garbage = Path.Combine(dir, "broken.png");
        File.WriteAllText(garbage, "not an image");
        CliHarness.Fails(Run("cam", "--model", "resnet_nano", "--image", garbage, "-o", dir), "broken.png", "not a decodable image");
        CliHarness.Fails(Run("erf", "--model", "resnet_nano", "--image", garbage, "-o", dir), "broken.png");
        CliHarness.Fails(Run("cam", "--model", "resnet_nano", "--image", Path.Combine(dir, "missing.png"), "-o", dir), "missing.png", "does not exist");
        CliHarness.Fails(Run("erf", "--model", "resnet_nano", "--images", Path.Combine(dir, "nowhere"), "-o", dir), "--images", "does not exist");
        CliHarness.Fails(Run("erf", "--model", "resnet_nano", "--checkpoint", Path.Combine(dir, "x.ckpt"), "-o", dir), "x.ckpt", "does not exist");
        CliHarness.Fails(Run("erf", "--model", "resnet_nano", "--checkpoint-before", "init", "-o", dir), "--checkpoint-after");
        Assert.Empty(Directory.GetFiles(dir, "*.json"));
    }

    [Fact]
    public void ErfGridWithTwoColumnsWritesFigureJsonAndMaps()
    {
        string dir = CliHarness.TempDir("erf");
        var r = Run("erf", "--models", "resnet_nano,deit_nano", "--checkpoint", "init,init", "--count", "1", "--size", "16", "-o", dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(new FileInfo(Path.Combine(dir, "erf.png")).Length > 1000);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "erf.json")));
        var entries = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(4, entries.Count);
        Assert.Equal(["resnet_nano", "resnet_nano", "deit_nano", "deit_nano"], entries.Select(e => e.GetProperty("model").GetString()));
        Assert.All(entries, e => Assert.Equal(4, e.GetProperty("areaRatios").GetArrayLength()));
        Assert.Equal(4, Directory.GetFiles(dir, "erf-*.npy").Length);
        // .npy: magic, version 1.0, header naming float64 and (16, 16), then 256 doubles.
        var npy = File.ReadAllBytes(Directory.GetFiles(dir, "erf-resnet_nano-*.npy")[0]);
        Assert.Equal(0x93, npy[0]);
        int headerLength = BitConverter.ToUInt16(npy, 8);
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Contains("'shape': (16, 16)", System.Text.Encoding.ASCII.GetString(npy, 10, headerLength));
        Assert.Equal(10 + headerLength + 256 * 8, npy.Length);
        // --replot draws the grid again from the folder, computing nothing.
        File.Delete(Path.Combine(dir, "erf.png"));
        var again = Run("erf", "--replot", dir);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.True(File.Exists(Path.Combine(dir, "erf.png")));
        CliHarness.Fails(Run("erf", "--replot", CliHarness.TempDir("empty")), "--replot", "erf.json");
    }

    [Fact]
    public void CamOnImagesWritesOverlayAndRawMap()
    {
        string images = CliHarness.TempDir("cam-images");
        var px = new float[28 * 28];
        for (int i = 0; i < px.Length; i++) px[i] = (i % 28) / 28f;
        ImageDecoder.Save(new ImageSample(px, 1, 28, 28, 0), Path.Combine(images, "a.png"));
        ImageDecoder.Save(new ImageSample(px.Reverse().ToArray(), 1, 28, 28, 0), Path.Combine(images, "b.png"));
        string dir = CliHarness.TempDir("cam");
        var r = Run("cam", "--model", "vim_nano", "--images", images, "--method", "hirescam", "--class", "2", "-o", dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(Path.Combine(dir, "a-hirescam.png")) && File.Exists(Path.Combine(dir, "a-hirescam.npy")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cam.json")));
        var e = json.RootElement[0];
        Assert.Equal(2, e.GetProperty("classIndex").GetInt32());
        Assert.Equal(e.GetProperty("mapHeight").GetInt32() * e.GetProperty("mapWidth").GetInt32(), e.GetProperty("map").GetArrayLength());
        Assert.Equal(1, json.RootElement.GetArrayLength());   // --count defaults to 1 image
    }
}
