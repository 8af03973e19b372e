using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VisionSsm.Models;

/// <summary>Figures the paper or official README reports for a variant, shown beside ours.</summary>
public sealed record ReportedFigures(double? ParamsM = null, double? GFlops = null, double? Top1 = null, string Source = "");

/// <summary>
/// One registered variant: its name, family (lowercase: vmamba, vim, vgamba, resnet, vit), default input size, a
/// factory, and its evaluation <see cref="Preprocessing"/> (timm's pretrained_cfg).
/// </summary>
public sealed record ModelEntry(string Name, string Family, int DefaultImageSize, Func<ModelOptions, VisionModel> Factory,
    FlopConvention FlopConvention = FlopConvention.Fvcore, ReportedFigures? Reported = null, string Description = "")
{
    public required Preprocessing Preprocessing { get; init; }
}

/// <summary>A model family registers its variants by implementing this (with a public parameterless constructor).</summary>
public interface IModelFamily
{
    IEnumerable<ModelEntry> Entries { get; }
}

/// <summary>
/// The model zoo, like timm's <c>create_model</c>: every <see cref="IModelFamily"/> in this assembly registers its
/// variants by name. <c>ModelZoo.Create("vmamba_tiny_s1l8")</c>.
/// </summary>
public static class ModelZoo
{
    static readonly Lazy<IReadOnlyDictionary<string, ModelEntry>> entries = new(Discover);

    /// <summary>All registered names, sorted.</summary>
    public static IReadOnlyList<string> Names => entries.Value.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();

    /// <summary>All registered entries, sorted by name.</summary>
    public static IReadOnlyList<ModelEntry> Entries => Names.Select(n => entries.Value[n]).ToList();

    /// <summary>The entry for <paramref name="name"/>; ArgumentException listing the known names otherwise.</summary>
    public static ModelEntry Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (entries.Value.TryGetValue(name, out var e)) return e;
        throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.", nameof(name));
    }

    /// <summary>Builds <paramref name="name"/> with <paramref name="numClasses"/> outputs.</summary>
    public static VisionModel Create(string name, int numClasses = 1000) => Create(name, new ModelOptions(numClasses));

    /// <summary>Builds <paramref name="name"/> with the given options.</summary>
    public static VisionModel Create(string name, ModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Runtime.NativeLibraryCheck.EnsureLoaded();
        return Get(name).Factory(options);
    }

    static IReadOnlyDictionary<string, ModelEntry> Discover()
    {
        var result = new Dictionary<string, ModelEntry>(StringComparer.Ordinal);
        var families = typeof(ModelZoo).Assembly.GetTypes()
            .Where(t => typeof(IModelFamily).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (var type in families)
        {
            var family = (IModelFamily)Activator.CreateInstance(type)!;
            foreach (var entry in family.Entries)
            {
                if (entry.Family != entry.Family.ToLowerInvariant())
                    throw new InvalidOperationException($"Model '{entry.Name}': family label '{entry.Family}' must be lowercase.");
                if (!result.TryAdd(entry.Name, entry))
                    throw new InvalidOperationException($"Model name '{entry.Name}' is registered twice ({type.Name}).");
            }
        }
        return result;
    }
}
