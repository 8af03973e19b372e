using System.Text;
using System.Text.Json;
using TorchSharp;
using VisionSsm.Data;
using VisionSsm.Data.Transforms;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>How an image becomes model input; stored in checkpoints so <c>vssm predict</c> needs no flags.</summary>
/// <param name="SmallImage">Small-image pipeline (plain resize to the size; no center crop), as for 28/32-px data.</param>
/// <param name="CropPct">Eval center-crop fraction for the ImageNet-style pipeline (timm crop_pct).</param>
/// <param name="Interpolation">Resize filter; null = the pipeline's default (bilinear small-image, bicubic ImageNet-style).</param>
public sealed record Preprocessing(int Channels, int ImageSize, float[] Mean, float[] Std, bool SmallImage = true, double CropPct = 1.0,
    Interpolation? Interpolation = null)
{
    /// <summary>The data engineer's transform options this preprocessing corresponds to.</summary>
    public TransformOptions ToTransformOptions()
    {
        var o = SmallImage
            ? TransformOptions.ForSmallImages(ImageSize, Channels, Mean, Std) with { CropPct = CropPct }
            : new TransformOptions { ImageSize = ImageSize, Channels = Channels, Mean = Mean, Std = Std, CropPct = CropPct };
        return Interpolation is { } i ? o with { Interpolation = i } : o;
    }

    /// <summary>The evaluation transform (timm eval: channels → resize [+ center crop] → normalise).</summary>
    public ISampleTransform EvalTransform() => TransformFactory.Eval(ToTransformOptions());

    /// <summary>
    /// A zoo entry's preprocessing (timm pretrained_cfg) for a model with <paramref name="channels"/> input channels:
    /// crop fraction 1 means the small-image pipeline (plain resize), anything else resize + center crop.
    /// </summary>
    public static Preprocessing FromZoo(Models.Preprocessing zoo, int channels) =>
        new(channels, zoo.InputSize, zoo.Mean, zoo.Std, SmallImage: zoo.CropPct >= 1, zoo.CropPct, zoo.Interpolation switch
        {
            Models.ImageInterpolation.Nearest => Data.Transforms.Interpolation.Nearest,
            Models.ImageInterpolation.Bilinear => Data.Transforms.Interpolation.Bilinear,
            _ => Data.Transforms.Interpolation.Bicubic,
        });
}

/// <summary>The training position and bookkeeping a checkpoint records besides the tensors.</summary>
public sealed record CheckpointInfo
{
    public required string ModelName { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    public required Preprocessing Preprocessing { get; init; }
    public required TrainConfig Config { get; init; }
    /// <summary>Epochs fully completed.</summary>
    public int Epoch { get; init; }
    /// <summary>Batches already trained in the current (incomplete) epoch; 0 at an epoch boundary.</summary>
    public int StepInEpoch { get; init; }
    /// <summary>Optimiser steps taken in total (the schedule position).</summary>
    public long Step { get; init; }
    /// <summary>Partial training statistics of the current epoch, so a resumed epoch reports the same figures.</summary>
    public double EpochLossSum { get; init; }
    public long EpochCorrect { get; init; }
    public long EpochSeen { get; init; }
    public double BestTop1 { get; init; }
    public int BestEpoch { get; init; }
    /// <summary>The seed from which every .NET <see cref="Random"/> of the run is derived (per epoch, batch and sample).</summary>
    public int Seed { get; init; }
    public DateTime SavedUtc { get; init; }
    /// <summary>A task's own recipe as JSON (segmentation runs store their config here); null for classification.</summary>
    public string? TaskConfig { get; init; }
}

/// <summary>A checkpoint whose tensors do not match the model it is loaded into; lists the keys by name.</summary>
public sealed class CheckpointMismatchException(string message, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected)
    : Exception(message)
{
    public IReadOnlyList<string> Missing { get; } = missing;
    public IReadOnlyList<string> Unexpected { get; } = unexpected;
}

/// <summary>
/// A training checkpoint in one file: metadata JSON (model name, classes, preprocessing, config, position, seed),
/// model state, EMA state, optimiser state and the torch RNG state. Written atomically: temp file in the same
/// folder, fsync, rename over the target — a crash mid-write leaves the previous checkpoint intact.
/// Format: "VSSMCKPT", version, JSON, then named tensor sections (our own simple layout: dtype, shape, raw bytes).
/// </summary>
public sealed class Checkpoint : IDisposable
{
    const string Magic = "VSSMCKPT";
    const int Version = 1;

    public required CheckpointInfo Info { get; init; }
    public required Dictionary<string, Tensor> Model { get; init; }
    public Dictionary<string, Tensor>? Ema { get; init; }
    /// <summary>The optimiser's state in TorchSharp's own binary format (<c>save_state_dict</c>).</summary>
    public byte[]? Optimizer { get; init; }
    public Tensor? TorchRngState { get; init; }

    /// <summary>Writes atomically to <paramref name="path"/> (<see cref="AtomicFile"/>).</summary>
    public void Save(string path) =>
        AtomicFile.Write(path, fs =>
        {
            using var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true);
            w.Write(Encoding.ASCII.GetBytes(Magic));
            w.Write(Version);
            w.Write(JsonSerializer.Serialize(Info, TrainConfig.Json));
            WriteSection(w, Model);
            w.Write(Ema is not null);
            if (Ema is not null) WriteSection(w, Ema);
            w.Write(Optimizer?.Length ?? -1);
            if (Optimizer is not null) w.Write(Optimizer);
            w.Write(TorchRngState is not null);
            if (TorchRngState is not null) WriteTensor(w, TorchRngState);
            w.Write(Encoding.ASCII.GetBytes(Magic));
        });

    /// <summary>Reads a checkpoint; a missing, truncated or foreign file throws <see cref="InvalidDataException"/> naming the path.</summary>
    public static Checkpoint Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist.", path);
        try
        {
            using var fs = File.OpenRead(path);
            using var r = new BinaryReader(fs, Encoding.UTF8);
            if (fs.Length < Magic.Length + 4 || Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic)
                throw new InvalidDataException($"'{path}' is not a VisionSsm checkpoint (no {Magic} header).");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidDataException($"'{path}' has checkpoint format version {version}; expected {Version}.");
            var info = JsonSerializer.Deserialize<CheckpointInfo>(r.ReadString(), TrainConfig.Json)
                       ?? throw new InvalidDataException($"'{path}': empty metadata.");
            CheckInfo(info, path);
            var model = ReadSection(r);
            var ema = r.ReadBoolean() ? ReadSection(r) : null;
            int optLength = r.ReadInt32();
            var opt = optLength >= 0 ? ReadBytes(r, optLength, "optimiser state") : null;
            var rng = r.ReadBoolean() ? ReadTensor(r) : null;
            if (Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic)
                throw new InvalidDataException($"'{path}' is truncated or corrupt (no end marker).");
            return new Checkpoint { Info = info, Model = model, Ema = ema, Optimizer = opt, TorchRngState = rng };
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or IOException or ArgumentException or FormatException
                                      or OverflowException or NotSupportedException or System.Runtime.InteropServices.ExternalException
                                      or InvalidDataException)
        {
            if (e is InvalidDataException && e.Message.Contains(path, StringComparison.Ordinal)) throw;
            throw new InvalidDataException($"'{path}' is not a readable VisionSsm checkpoint: {e.Message}", e);
        }
    }

    /// <summary>JSON null is accepted by the deserializer for non-nullable members; a checkpoint needs them all.</summary>
    static void CheckInfo(CheckpointInfo info, string path)
    {
        string? missing = info.ModelName is null ? "modelName" : info.Classes is null || info.Classes.Any(c => c is null) ? "classes"
            : info.Preprocessing?.Mean is null || info.Preprocessing.Std is null ? "preprocessing" : info.Config is null ? "config" : null;
        if (missing is not null) throw new InvalidDataException($"'{path}': the checkpoint metadata has no valid '{missing}'.");
        if (info.Epoch < 0 || info.StepInEpoch < 0 || info.Step < 0)
            throw new InvalidDataException($"'{path}': the checkpoint position (epoch {info.Epoch}, batch {info.StepInEpoch}, step {info.Step}) is negative.");
    }

    /// <summary>Exactly <paramref name="length"/> bytes, checked against what is left in the file before allocating.</summary>
    static byte[] ReadBytes(BinaryReader r, int length, string what)
    {
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if (length < 0 || length > left) throw new InvalidDataException($"{what} declares {length} bytes but {left} are left");
        return r.ReadBytes(length);
    }

    /// <summary>A model's state (parameters and buffers) as a name → tensor copy.</summary>
    public static Dictionary<string, Tensor> StateOf(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().clone());

    /// <summary>
    /// Copies <paramref name="state"/> into <paramref name="module"/>; every key must match by name and shape.
    /// A checkpoint of another model throws <see cref="CheckpointMismatchException"/> naming the missing and unexpected keys.
    /// </summary>
    public static void LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> state, string what = "checkpoint")
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var shapes = target.Where(kv => state.TryGetValue(kv.Key, out var s) && !s.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (checkpoint [{string.Join(", ", state[kv.Key].shape)}], model [{string.Join(", ", kv.Value.shape)}])").ToList();
        if (missing.Count + unexpected.Count + shapes.Count > 0)
        {
            static string List(IReadOnlyList<string> keys) => keys.Count == 0 ? "none" :
                string.Join(", ", keys.Take(12)) + (keys.Count > 12 ? $", … ({keys.Count} in all)" : "");
            string message = $"The {what} does not fit this model: missing keys: {List(missing)}; unexpected keys: {List(unexpected)}"
                             + (shapes.Count > 0 ? $"; shape mismatches: {List(shapes)}" : "") + ".";
            throw new CheckpointMismatchException(message, missing, unexpected);
        }
        using var _ = no_grad();
        foreach (var (k, t) in target) t.copy_(state[k]);
    }

    static void WriteSection(BinaryWriter w, IReadOnlyDictionary<string, Tensor> tensors)
    {
        w.Write(tensors.Count);
        foreach (var (name, t) in tensors)
        {
            w.Write(name);
            WriteTensor(w, t);
        }
    }

    static Dictionary<string, Tensor> ReadSection(BinaryReader r)
    {
        int count = r.ReadInt32();
        // Each tensor takes at least 13 bytes (name length, dtype, rank, data length).
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if (count < 0 || count > left / 13) throw new InvalidDataException($"tensor count {count} does not fit in the {left} bytes left");
        var result = new Dictionary<string, Tensor>(count, StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < count; i++)
            {
                string name = r.ReadString();
                if (result.ContainsKey(name)) throw new InvalidDataException($"tensor '{name}' appears twice");
                result[name] = ReadTensor(r);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    static void WriteTensor(BinaryWriter w, Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        w.Write((int)c.dtype);
        w.Write((int)c.dim());
        foreach (long s in c.shape) w.Write(s);
        var bytes = c.bytes;
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    static Tensor ReadTensor(BinaryReader r)
    {
        var dtype = (ScalarType)r.ReadInt32();
        if (!Interop.TorchDtypes.IsStorable(dtype)) throw new InvalidDataException($"unsupported tensor dtype code {(int)dtype}");
        int rank = r.ReadInt32();
        if (rank is < 0 or > 16) throw new InvalidDataException($"implausible tensor rank {rank}");
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = r.ReadInt64();
        int length = r.ReadInt32();
        // The shape must match the stored length (checked without allocating); the length must fit in the file.
        long expected = Interop.TorchDtypes.CheckedByteCount(shape, dtype, Math.Max(length, 0));
        if (expected != length) throw new InvalidDataException($"tensor of shape [{string.Join(", ", shape)}] {dtype} has {length} bytes; expected {expected}");
        return Interop.TorchDtypes.FromBytes(ReadBytes(r, length, "tensor data"), dtype, shape);
    }

    public void Dispose()
    {
        foreach (var t in Model.Values) t.Dispose();
        if (Ema is not null) foreach (var t in Ema.Values) t.Dispose();
        TorchRngState?.Dispose();
    }
}
