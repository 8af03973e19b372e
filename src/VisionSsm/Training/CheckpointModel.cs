using TorchSharp;
using VisionSsm.Interop;
using VisionSsm.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Training;

/// <summary>Rebuilds the model a checkpoint records (name, classes, channels, size) and loads its weights.</summary>
public static class CheckpointModel
{
    /// <param name="modelName">The model to build; null = the checkpoint's. Another model's checkpoint fails naming the missing/unexpected keys.</param>
    /// <param name="ema">Load the EMA weights instead of the model's.</param>
    public static VisionModel Build(Checkpoint ckpt, string? modelName = null, bool ema = false, Device? device = null)
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

    /// <summary>
    /// The model weights, by key name, of a VisionSsm checkpoint (<c>.ckpt</c>) or an official weights file
    /// (<c>.pth</c>/<c>.pt</c>/<c>.safetensors</c>): what <c>--backbone-checkpoint</c> reads. CPU tensors the caller disposes.
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist.", path);
        if (PretrainedWeights.IsWeightsFile(path)) return PretrainedWeights.ReadStateDict(path);
        var ckpt = Checkpoint.Load(path);
        // Keep the model's tensors; release the rest of what was read.
        if (ckpt.Ema is not null) foreach (var t in ckpt.Ema.Values) t.Dispose();
        ckpt.TorchRngState?.Dispose();
        return ckpt.Model;
    }

    /// <summary>
    /// Opens a VisionSsm checkpoint (<c>.ckpt</c>: model, classes and preprocessing recorded) or an official weights
    /// file (<c>.pth</c>/<c>.pt</c> from <c>torch.save</c>, or <c>.safetensors</c>) for zoo model <paramref name="modelName"/>,
    /// which such files require. Official files record neither labels nor preprocessing: labels are the class indices
    /// ("0", "1", …, the ImageNet-1k index order for ImageNet weights) and preprocessing is the zoo entry's.
    /// </summary>
    public static InferenceModel Open(string path, string? modelName = null, bool ema = false, Device? device = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist.", path);
        if (!PretrainedWeights.IsWeightsFile(path))
        {
            using var ckpt = Checkpoint.Load(path);
            var net = Build(ckpt, modelName, ema, device);
            return new InferenceModel(net, modelName ?? ckpt.Info.ModelName, ckpt.Info.Classes, ckpt.Info.Preprocessing, ckpt.Info);
        }
        if (modelName is null)
            throw new ArgumentException($"'{path}' is an official weights file, which does not record its model: name it with --model " +
                                        $"(known models: {string.Join(", ", ModelZoo.Names)}).", "model");
        if (ema) throw new ArgumentException($"--ema: '{path}' is an official weights file with one set of weights; load an EMA export directly instead.", "ema");
        var entry = ModelZoo.Get(modelName);
        int channels = entry.Preprocessing.Mean.Length;
        var model = PretrainedWeights.Create(modelName, path, new ModelOptions(InChannels: channels));
        if (device is not null) model.to(device);
        var classes = Enumerable.Range(0, model.NumClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        return new InferenceModel(model, modelName, classes, Preprocessing.FromZoo(entry.Preprocessing, channels), null);
    }
}
