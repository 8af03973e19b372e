using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Interop;

/// <summary>What a load found: keys the model has but the file lacks, keys the file has but the model lacks, and shape mismatches.</summary>
public sealed record StateDictDiff(IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<string> ShapeMismatches)
{
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    public override string ToString() =>
        IsExact ? "all keys match" :
        string.Join("; ", new[]
        {
            Missing.Count > 0 ? $"missing keys ({Missing.Count}): {Preview(Missing)}" : null,
            Unexpected.Count > 0 ? $"unexpected keys ({Unexpected.Count}): {Preview(Unexpected)}" : null,
            ShapeMismatches.Count > 0 ? $"shape mismatches ({ShapeMismatches.Count}): {Preview(ShapeMismatches)}" : null,
        }.Where(s => s is not null));

    static string Preview(IReadOnlyList<string> names) => string.Join(", ", names.Take(12)) + (names.Count > 12 ? ", …" : "");
}

/// <summary>
/// Copies a state_dict (from <see cref="PyTorchCheckpoint"/>, <see cref="Safetensors"/> or another model) into a module
/// by name — never by position, since TorchSharp orders parameters before buffers (docs/architecture.md §6).
/// </summary>
public static class StateDictLoader
{
    /// <summary>
    /// Compares names and shapes, then (when <paramref name="strict"/> and anything differs) throws an
    /// <see cref="InvalidDataException"/> naming the missing, unexpected and mis-shaped keys; otherwise copies every
    /// matching tensor (converting dtype and device) and returns the differences.
    /// </summary>
    public static StateDictDiff Load(Module module, IReadOnlyDictionary<string, Tensor> source, bool strict = true)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var mismatched = target.Where(kv => source.TryGetValue(kv.Key, out var s) && !s.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (model [{string.Join(", ", kv.Value.shape)}], file [{string.Join(", ", source[kv.Key].shape)}])")
            .ToList();
        var diff = new StateDictDiff(missing, unexpected, mismatched);
        if (strict && !diff.IsExact) throw new InvalidDataException($"the state_dict does not fit this model: {diff}");
        using var _ = no_grad();
        foreach (var (name, t) in target)
            if (source.TryGetValue(name, out var s) && s.shape.SequenceEqual(t.shape))
                t.copy_(s.to(t.dtype, t.device));
        return diff;
    }
}
