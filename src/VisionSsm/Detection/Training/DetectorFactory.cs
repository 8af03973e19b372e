using System.Collections.Concurrent;
using VisionSsm.Detection.Models;
using VisionSsm.Models;

namespace VisionSsm.Detection.Training;

/// <summary>
/// Builds a detector by name for the trainer, evaluator and CLI: names registered here first (callers add their own
/// detectors, e.g. test doubles), then the detection zoo (<see cref="DetectionZoo"/>). An unknown name is an error listing the known ones.
/// </summary>
public static class DetectorFactory
{
    static readonly ConcurrentDictionary<string, Func<ModelOptions, IDetector>> Registered = new(StringComparer.Ordinal);

    /// <summary>Adds (or replaces) a detector under <paramref name="name"/>.</summary>
    public static void Register(string name, Func<ModelOptions, IDetector> create)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Registered[name] = create;
    }

    /// <summary>The zoo's names, then the registered ones.</summary>
    public static IReadOnlyList<string> Names => [.. DetectionZoo.Names, .. Registered.Keys.Order(StringComparer.Ordinal)];

    public static bool Exists(string name) => Registered.ContainsKey(name) || DetectionZoo.Names.Contains(name);

    /// <summary>Throws the unknown-detector error unless <paramref name="name"/> can be built.</summary>
    public static void Check(string name)
    {
        if (!Exists(name)) throw new ArgumentException($"--model '{name}': unknown detector; known: {string.Join(", ", Names)}.", "model");
    }

    public static IDetector Create(string name, ModelOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        options.Validate();
        Check(name);
        return Registered.TryGetValue(name, out var create) ? create(options) : DetectionZoo.Create(name, options);
    }
}
