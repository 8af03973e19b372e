using Google.Protobuf;
using VisionSsm.Models;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>An ONNX model in memory: its serialized bytes, node count and input shape (batch first).</summary>
public sealed record OnnxModelBytes(byte[] Bytes, int NodeCount, long[] InputShape, bool DynamicBatch, int Opset);

/// <summary>
/// Builds an ONNX graph from a zoo model's modules (docs/export.md): one emitter per family walks the module tree and
/// writes each layer's subgraph, reading parameters by their state_dict names, so the graph is the model as built and
/// loaded — no tracing. Input "input" (B, C, S, S) float32, output "logits" (B, classes) or the pooled features for a
/// model with no head.
/// </summary>
public static class OnnxExporter
{
    public static OnnxModelBytes Export(VisionModel model, int inChannels, int imageSize, OnnxExportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OnnxExportOptions();
        options.Validate();
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "expected ≥ 1 input channel");
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected a positive image size");
        if (model.training) throw new InvalidOperationException("ONNX export needs the model in eval mode (call model.eval()): dropout and drop-path are exported as identities.");
        var graph = new OnnxGraph(options.Opset);
        using var ctx = new OnnxEmitContext(graph, model, options);
        using var _ = no_grad();
        long[] shape = [-1, inChannels, imageSize, imageSize];
        var input = graph.Input("input", shape, options.DynamicBatch, options.Batch);
        var output = model switch
        {
            VMamba v => OnnxVMambaEmitter.Model(ctx, v, input),
            Vim v => OnnxTokenModelEmitter.Vim(ctx, v, input),
            Vit v => OnnxTokenModelEmitter.Vit(ctx, v, input),
            ResNet r => OnnxResNetEmitter.Model(ctx, r, input),
            _ => throw new NotSupportedException($"ONNX export: no emitter for the model type {model.GetType().Name}."),
        };
        graph.Output(output, "logits", options.DynamicBatch, options.Batch);
        var meta = new Dictionary<string, string> { ["vssm.model_type"] = model.GetType().Name, ["vssm.scan_chunk_length"] = options.ScanChunkLength.ToString() };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        var proto = graph.ToModel(typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0", meta);
        return new OnnxModelBytes(proto.ToByteArray(), graph.NodeCount, [options.Batch, inChannels, imageSize, imageSize], options.DynamicBatch, options.Opset);
    }
}
