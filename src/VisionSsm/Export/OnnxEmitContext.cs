using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// What an emitter reads while it writes a module's subgraph: the graph, the model's modules and tensors by their
/// state_dict names (the official keys, docs/architecture.md §5), and the export options.
/// </summary>
public sealed class OnnxEmitContext : IDisposable
{
    readonly Dictionary<string, Tensor> tensors;
    readonly Dictionary<string, nn.Module> modules;

    public OnnxEmitContext(OnnxGraph graph, nn.Module model, OnnxExportOptions options)
    {
        Graph = graph;
        Options = options;
        tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach(), StringComparer.Ordinal);
        modules = model.named_modules().Where(m => m.name.Length > 0).ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        modules[""] = model;
    }

    public OnnxGraph Graph { get; }
    public OnnxExportOptions Options { get; }

    /// <summary>"a.b" from a prefix and a child name ("" is the root).</summary>
    public static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>The tensor under the state_dict key <paramref name="key"/>.</summary>
    public Tensor P(string key) =>
        tensors.TryGetValue(key, out var t) ? t : throw new NotSupportedException($"ONNX export: the model has no tensor '{key}'.");

    public Tensor? TryP(string key) => tensors.GetValueOrDefault(key);

    /// <summary>The submodule at <paramref name="path"/>, as type <typeparamref name="T"/>.</summary>
    public T M<T>(string path) where T : nn.Module =>
        modules.TryGetValue(path, out var m) && m is T t ? t
            : throw new NotSupportedException($"ONNX export: expected a {typeof(T).Name} at '{path}', found {(m is null ? "nothing" : m.GetType().Name)}.");

    public nn.Module? TryM(string path) => modules.GetValueOrDefault(path);

    /// <summary>The named children of the module at <paramref name="path"/>, in registration order.</summary>
    public IEnumerable<(string Name, nn.Module Module)> Children(string path) =>
        (path.Length == 0 ? modules[""] : modules[path]).named_children();

    /// <summary>A weight initializer from the tensor under <paramref name="key"/>.</summary>
    public OnnxValue W(string key) => Graph.Weight(P(key), key);

    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
