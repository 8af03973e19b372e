using System.Collections.Concurrent;
using VisionSsm.Detection.Models;
using VisionSsm.Models;

namespace VisionSsm.Detection.Training;

/// <summary>
/// Builds a detector by name for the trainer, evaluator and CLI: names registered here first (callers add their own
/// detectors, e.g. test doubles), then the detection zoo. An unknown name is an error listing the known ones.
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

    public static IReadOnlyList<string> Names => Registered.Keys.Order(StringComparer.Ordinal).ToList();

    public static bool Exists(string name) => Registered.ContainsKey(name);

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
        return Registered[name](options);
    }
}
