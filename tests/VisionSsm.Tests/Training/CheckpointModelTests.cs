using VisionSsm.Models;
using VisionSsm.Segmentation.Models;
using VisionSsm.Training;
using Preprocessing = VisionSsm.Training.Preprocessing;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Training;

public class CheckpointModelTests
{
    /// <summary>
    /// A classification run's <c>.ckpt</c> feeds <c>--backbone-checkpoint</c>: its model weights (not the EMA copy)
    /// land in the segmentation backbone, key by key.
    /// </summary>
    [Fact]
    public void A_classification_ckpt_loads_into_a_segmentation_backbone()
    {
        string path = Path.Combine(Path.GetTempPath(), "vssm-tests", $"ckpt-{Guid.NewGuid():N}", "best.ckpt");
        using var classifier = ModelZoo.Create("vmamba_nano_s4", new ModelOptions(10, 1, 28));
        var weights = classifier.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        using (var ckpt = new Checkpoint
               {
                   Info = new CheckpointInfo
                   {
                       ModelName = "vmamba_nano_s4", Classes = Enumerable.Range(0, 10).Select(i => $"{i}").ToList(),
                       Preprocessing = new Preprocessing(1, 28, [0.5f], [0.25f]), Config = new TrainConfig { Model = "vmamba_nano_s4" },
                   },
                   Model = weights,
                   Ema = weights.ToDictionary(kv => kv.Key, kv => zeros_like(kv.Value)),
               })
            ckpt.Save(path);

        var sd = CheckpointModel.ReadStateDict(path);
        try
        {
            Assert.Equal(classifier.state_dict().Keys.Order(), sd.Keys.Order());
            using var seg = SegmentationZoo.Create("upernet_vmamba_nano_s4", 11, inChannels: 1);
            seg.LoadBackboneWeights(sd);
            var loaded = seg.Backbone.state_dict();
            string key = "layers.0.blocks.0.op.in_proj.weight";
            Assert.True(loaded[key].equal(classifier.state_dict()[key]).all().item<bool>());
            Assert.False(loaded[key].eq(0).all().item<bool>());   // the model's weights, not the zeroed EMA copy
        }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        Assert.Throws<FileNotFoundException>(() => CheckpointModel.ReadStateDict(path + ".missing"));
    }
}
