using TorchSharp;
using VisionSsm.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>Rebuilds the model a checkpoint records (name, classes, channels, size) and loads its weights.</summary>
public static class CheckpointModel
{
    /// <param name="modelName">The model to build; null = the checkpoint's. Another model's checkpoint fails naming the missing/unexpected keys.</param>
    /// <param name="ema">Load the EMA weights instead of the model's.</param>
    public static Module<Tensor, Tensor> Build(Checkpoint ckpt, string? modelName = null, bool ema = false, Device? device = null)
    {
        var info = ckpt.Info;
        var entry = ModelZoo.Get(modelName ?? info.ModelName);
        var net = entry.Factory(new ModelOptions(info.Classes.Count, info.Preprocessing.Channels, info.Preprocessing.ImageSize, 0, device));
        var state = ema ? ckpt.Ema ?? throw new ArgumentException("--ema: the checkpoint holds no EMA weights (trained without --ema-decay).", "ema") : ckpt.Model;
        Checkpoint.LoadInto(net, state, entry.Name == info.ModelName ? "checkpoint" : $"checkpoint of '{info.ModelName}' loaded into '{entry.Name}'");
        net.to(device ?? CPU);
        net.eval();
        return net;
    }
}
