using TorchSharp;

namespace VisionSsm.Training;

/// <summary>An optimiser's state (moments, step counts, group options) as bytes in TorchSharp's own format, for checkpoints.</summary>
public static class OptimizerState
{
    public static byte[] Save(TorchSharp.Modules.OptimizerHelper optimizer)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(w);
        return ms.ToArray();
    }

    public static void Load(TorchSharp.Modules.OptimizerHelper optimizer, byte[] state)
    {
        using var ms = new MemoryStream(state);
        using var r = new BinaryReader(ms);
        optimizer.load_state_dict(r);
    }
}
