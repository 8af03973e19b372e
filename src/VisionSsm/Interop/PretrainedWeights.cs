using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Interop;

/// <summary>
/// Official weight files — <c>torch.save</c> output (<c>.pth</c>/<c>.pt</c>, a bare state_dict or a training file
/// <c>{"model": state_dict, "config": …, …}</c>) or <c>.safetensors</c> — loaded into a zoo model by key name.
/// Half-precision weights are converted to the model's dtype; a DDP <c>module.</c> prefix is dropped.
/// </summary>
public static class PretrainedWeights
{
    /// <summary>True for a <c>.safetensors</c> file or a zip (<c>torch.save</c>) file, by extension or leading bytes.</summary>
    public static bool IsWeightsFile(string path)
    {
        if (IsSafetensors(path)) return true;
        if (!File.Exists(path)) return false;
        using var fs = File.OpenRead(path);
        return fs.ReadByte() == 'P' && fs.ReadByte() == 'K';
    }

    static bool IsSafetensors(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    /// <summary>The state_dict of a weights file (tensors as stored, CPU).</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        var sd = IsSafetensors(path) ? Safetensors.Load(path) : PyTorchCheckpoint.LoadStateDict(path);
        const string ddp = "module.";
        if (sd.Count > 0 && sd.Keys.All(k => k.StartsWith(ddp, StringComparison.Ordinal)))
            sd = sd.ToDictionary(kv => kv.Key[ddp.Length..], kv => kv.Value, StringComparer.Ordinal);
        return sd;
    }

    /// <summary>
    /// Builds zoo model <paramref name="modelName"/> with the classifier width the file's head has (so a 1000-class
    /// ImageNet file and a 10-class one both load) and loads the weights strictly. <paramref name="options"/>' class
    /// count is ignored; its channels default to the entry's preprocessing (3 for ImageNet variants).
    /// </summary>
    public static VisionModel Create(string modelName, string path, ModelOptions? options = null)
    {
        var entry = ModelZoo.Get(modelName);
        var sd = ReadStateDict(path);
        try
        {
            options ??= new ModelOptions(InChannels: entry.Preprocessing.Mean.Length);
            var model = ModelZoo.Create(modelName, options with { NumClasses = 0 });
            try
            {
                model.ResetClassifier(HeadWidth(model, sd, path));
                Load(model, sd);
                model.eval();
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Copies <paramref name="stateDict"/> into <paramref name="model"/> by name (strict: every key and shape must
    /// match, else an <see cref="InvalidDataException"/> names the differences). A position embedding trained at another
    /// size is resampled to the model's grid first (ViT: timm <c>resample_abs_pos_embed</c>; Vim: middle class token kept).
    /// </summary>
    public static StateDictDiff Load(VisionModel model, IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        var dict = stateDict.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        Tensor? resampled = null;
        if (dict.TryGetValue("pos_embed", out var pe))
        {
            if (model is Vim vim && pe.shape[1] != vim.Config.NumPatches + 1)
                dict["pos_embed"] = resampled = Vim.ResamplePosEmbed(pe, vim.Config.GridSize);
            else if (model is Vit vit && pe.shape[1] != (long)vit.GridSize * vit.GridSize + 1)
                dict["pos_embed"] = resampled = Vit.ResamplePositionEmbedding(pe, vit.GridSize);
        }
        try
        {
            return StateDictLoader.Load(model, dict, strict);
        }
        finally
        {
            resampled?.Dispose();
        }
    }

    /// <summary>The file's classifier width: the rows of the 2-D weight among the keys a 1-class head adds to a headless model.</summary>
    static int HeadWidth(VisionModel headless, IReadOnlyDictionary<string, Tensor> sd, string path)
    {
        var without = headless.state_dict().Keys.ToHashSet(StringComparer.Ordinal);
        headless.ResetClassifier(1);
        string weight = headless.state_dict().Where(kv => !without.Contains(kv.Key) && kv.Value.dim() == 2).Select(kv => kv.Key).Single();
        if (!sd.TryGetValue(weight, out var w) || w.dim() != 2)
            throw new InvalidDataException($"'{path}' has no classifier weight '{weight}' (it holds {sd.Count} tensors); is it a '{headless.GetType().Name}' checkpoint with a head?");
        return checked((int)w.shape[0]);
    }
}
