using VisionSsm.Models;
using VisionSsm.Training;
using Preprocessing = VisionSsm.Training.Preprocessing;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

// RoundTripsTensorsAndPosition compares the saved RNG state with the process-wide generator, which tests on the other
// xunit worker advance concurrently (seen failing in the full suite): run serially.
[Collection(Cli.SerialTrainingCollection.Name)]
public class CheckpointTests
{
    static Checkpoint Make(float value) => new()
    {
        Info = new CheckpointInfo
        {
            ModelName = "m", Classes = ["a", "b"], Preprocessing = new Preprocessing(1, 8, [0.5f], [0.25f]),
            Config = new TrainConfig { Model = "m", Seed = 5 }, Epoch = 2, StepInEpoch = 1, Step = 9, Seed = 5,
        },
        Model = new() { ["w"] = full(2, 3, value), ["n"] = tensor(new long[] { 7 }) },
        Ema = new() { ["w"] = full(2, 3, value + 1) },
        Optimizer = [1, 2, 3],
        TorchRngState = tensor(new byte[] { 1, 2, 250 }),
    };

    static string TempFile() => Path.Combine(Path.GetTempPath(), "vssm-tests", $"ckpt-{Guid.NewGuid():N}", "last.ckpt");

    [Fact]
    public void RoundTripsTensorsAndPosition()
    {
        string path = TempFile();
        byte[] savedRng;
        using (var c = Make(1.5f))
        {
            // The state stored in this checkpoint, not the global one at assert time: tests in the other xunit
            // worker draw from the global generator in between.
            savedRng = c.TorchRngState!.bytes.ToArray();
            c.Save(path);
        }
        using var back = Checkpoint.Load(path);
        Assert.Equal(2, back.Info.Epoch);
        Assert.Equal(9, back.Info.Step);
        Assert.Equal(5, back.Info.Config.Seed);
        Assert.Equal([0.25f], back.Info.Preprocessing.Std);
        Assert.True(back.Model["w"].equal(full(2, 3, 1.5f)).all().item<bool>());
        Assert.Equal(7, back.Model["n"].item<long>());
        Assert.Equal(int64, back.Model["n"].dtype);
        Assert.True(back.Ema!["w"].equal(full(2, 3, 2.5f)).all().item<bool>());
        Assert.Equal([1, 2, 3], back.Optimizer);
        Assert.Equal(savedRng, back.TorchRngState!.bytes.ToArray());
        Assert.Equal(uint8, back.TorchRngState.dtype);
    }

    [Fact]
    public void ACrashMidWriteLeavesThePreviousCheckpointIntact()
    {
        string path = TempFile();
        using (var c = Make(1f)) c.Save(path);
        string? temp = null;
        VisionSsm.Runtime.AtomicFile.BeforeRename = t => { temp = t; throw new IOException("simulated crash before rename"); };
        try
        {
            using var c2 = Make(2f);
            Assert.Throws<IOException>(() => c2.Save(path));
        }
        finally { VisionSsm.Runtime.AtomicFile.BeforeRename = null; }
        Assert.NotNull(temp);
        Assert.False(File.Exists(temp));                 // the partial file is cleaned up
        using var back = Checkpoint.Load(path);          // and the old one still loads
        Assert.True(back.Model["w"].equal(full(2, 3, 1f)).all().item<bool>());
    }

    [Fact]
    public void TruncatedOrForeignFilesGiveAClearError()
    {
        string path = TempFile();
        using (var c = Make(1f)) c.Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        File.WriteAllText(path, "PK\u0003\u0004 a zip, not ours");
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains("not a VisionSsm checkpoint", e.Message);
        Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(path + ".missing"));
    }

    [Fact]
    public void LoadingIntoAnotherModelNamesMissingAndUnexpectedKeys()
    {
        using var deit = ModelZoo.Create("deit_nano", new ModelOptions(4, 1, 8));
        using var other = ModelZoo.Create("resnet_nano", new ModelOptions(4, 1, 8));
        var state = Checkpoint.StateOf(deit);
        var e = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadInto(other, state));
        Assert.Contains("cls_token", e.Unexpected);
        Assert.Contains("conv1.weight", e.Missing);
        Assert.Contains("missing keys: ", e.Message);
        using var twin = ModelZoo.Create("deit_nano", new ModelOptions(4, 1, 8));
        Checkpoint.LoadInto(twin, state);
        Assert.True(twin.state_dict()["cls_token"].equal(deit.state_dict()["cls_token"]).all().item<bool>());
        using var wide = ModelZoo.Create("deit_nano", new ModelOptions(5, 1, 8));
        var shape = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadInto(wide, state));
        Assert.Contains("head.weight (checkpoint [4, 96], model [5, 96])", shape.Message);
    }
}
