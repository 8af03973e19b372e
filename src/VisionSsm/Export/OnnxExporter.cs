using Google.Protobuf;
using VisionSsm.Detection.Models;
using VisionSsm.Models;
using VisionSsm.Segmentation.Models;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>An ONNX model in memory: its serialized bytes, node count and input shape (batch first).</summary>
public sealed record OnnxModelBytes(byte[] Bytes, int NodeCount, long[] InputShape, bool DynamicBatch, int Opset, bool DynamicSize = false);

/// <summary>
/// Builds an ONNX graph from a zoo model's modules (docs/export.md): one emitter per family walks the module tree and
/// writes each layer's subgraph, reading parameters by their state_dict names, so the graph is the model as built and
/// loaded — no tracing. Input "input" (B, C, S, S) float32, output "logits" (B, classes) or the pooled features for a
/// model with no head; for a segmentation model (B, K, S, S), the logits resized to the input.
/// </summary>
public static class OnnxExporter
{
    public static OnnxModelBytes Export(VisionModel model, int inChannels, int imageSize, OnnxExportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options = Check(model, inChannels, imageSize, options);
        if (options.DynamicSize && !SupportsDynamicSize(model, out var why))
            throw new NotSupportedException($"ONNX export: {model.GetType().Name} cannot take a dynamic spatial size ({why}); export at a fixed --size instead.");
        var graph = new OnnxGraph(options.Opset);
        using var ctx = new OnnxEmitContext(graph, model, options);
        using var _ = no_grad();
        var (input, symbols) = Input(graph, inChannels, imageSize, options);
        var output = model switch
        {
            VMamba v => OnnxVMambaEmitter.Model(ctx, v, input),
            Vim v => OnnxTokenModelEmitter.Vim(ctx, v, input),
            Vit v => OnnxTokenModelEmitter.Vit(ctx, v, input),
            ResNet r => OnnxResNetEmitter.Model(ctx, r, input),
            _ => throw new NotSupportedException($"ONNX export: no emitter for the model type {model.GetType().Name}."),
        };
        graph.Output(output, "logits", options.DynamicBatch, options.Batch);
        return Finish(graph, model.GetType().Name, inChannels, imageSize, options, metadata);
    }

    /// <summary>
    /// A UperNet segmentation model (<see cref="SegmentationModel"/>): input (B, C, S, S) → "logits" (B, K, S, S), the
    /// decode head's logits resized to the input as <see cref="SegmentationModel.Predict"/> (argmax over K is the label map).
    /// </summary>
    public static OnnxModelBytes Export(SegmentationModel model, int imageSize, OnnxExportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        int inChannels = model.InChannels;
        options = Check(model, inChannels, imageSize, options);
        if (options.DynamicSize && !(model.Backbone is ResNet { FixedInputSize: false } && model.Config.Neck == SegmentationNeck.None))
            throw new NotSupportedException("ONNX export: this segmentation model takes a fixed spatial size (its backbone's graph depends on the size, " +
                                            "docs/export.md §5; only UperNet on a plain ResNet computes the PPM's adaptive-pooling bins and the resizes " +
                                            "at run time); export at the --size you will run.");
        var graph = new OnnxGraph(options.Opset);
        using var ctx = new OnnxEmitContext(graph, model, options);
        using var backboneCtx = new OnnxEmitContext(graph, model.Backbone, options);
        using var _ = no_grad();
        var (input, symbols) = Input(graph, inChannels, imageSize, options);
        var output = OnnxSegmentationEmitter.Model(ctx, backboneCtx, model, input);
        graph.Output(output, "logits", symbols, options.Batch);                                   // (B, K, H, W): H, W as the input's
        return Finish(graph, model.GetType().Name, inChannels, imageSize, options, metadata);
    }

    /// <summary>
    /// A Mask R-CNN detector (<see cref="MaskRcnn"/>) for one image of <paramref name="imageSize"/>²: input (1, C, S, S) →
    /// "boxes" (D, 4) in the input's pixels, "scores" (D), "labels" (D, int64) and, with a mask head, "masks" (D, M, M)
    /// mask probabilities of each box's class (docs/export.md §7). Batch 1 and a fixed size only.
    /// </summary>
    public static OnnxModelBytes Export(MaskRcnn model, int imageSize, OnnxExportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        int inChannels = model.InChannels;
        options = Check(model, inChannels, imageSize, options);
        if (options.DynamicSize)
            throw new NotSupportedException("ONNX export: a detector takes a fixed spatial size (the anchors are constants for each level's map, and the " +
                                            "RPN's top-k counts follow from it, docs/export.md §7); export at the --size you will run.");
        if (options.DynamicBatch || options.Batch != 1)
            throw new NotSupportedException("ONNX export: a detector is exported for batch 1 (its NMS and its number of detections are per image, " +
                                            "docs/export.md §7); run images one at a time.");
        var graph = new OnnxGraph(options.Opset);
        using var ctx = new OnnxEmitContext(graph, model, options);
        using var backboneCtx = new OnnxEmitContext(graph, model.Backbone, options);
        using var _ = no_grad();
        var (input, _) = Input(graph, inChannels, imageSize, options);
        var o = OnnxDetectionEmitter.Model(ctx, backboneCtx, model, input);
        string?[] det = ["detections", null, null];
        graph.Output(o.Boxes, "boxes", det, 1);
        graph.Output(o.Scores, "scores", det, 1);
        graph.Output(o.Labels, "labels", det, 1);
        OnnxDetectionEmitter.DeclareInt64(graph, "labels");
        if (o.Masks is { } masks) graph.Output(masks, "masks", det, 1);
        return Finish(graph, model.GetType().Name, inChannels, imageSize, options, metadata);
    }

    /// <summary>
    /// Whether <paramref name="model"/>'s graph can leave height and width symbolic: only when no reshape, parameter or
    /// unrolled loop depends on them — the plain convolutional ResNets. VMamba's scan length is H·W and the loop-free
    /// scan is unrolled for it (one level per factor Q, docs/export.md §3), and its cross-scan reshapes name H and W;
    /// Vim, DeiT and vGamba/BoTNet have position parameters built for one size.
    /// </summary>
    public static bool SupportsDynamicSize(VisionModel model, out string reason)
    {
        reason = model switch
        {
            ResNet { FixedInputSize: false } => "",
            ResNet => "its positional and register parameters are built for one size",
            VMamba => "the loop-free scan is unrolled for the sequence length H·W, and the cross-scan reshapes name H and W",
            Vim or Vit => "its position embedding is built for one size",
            _ => $"no dynamic-size emitter for {model.GetType().Name}",
        };
        return reason.Length == 0;
    }

    static OnnxExportOptions Check(TorchSharp.torch.nn.Module model, int inChannels, int imageSize, OnnxExportOptions? options)
    {
        options ??= new OnnxExportOptions();
        options.Validate();
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "expected ≥ 1 input channel");
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "expected a positive image size");
        if (model.training) throw new InvalidOperationException("ONNX export needs the model in eval mode (call model.eval()): dropout and drop-path are exported as identities.");
        return options;
    }

    /// <summary>The input (B, C, S, S); with a dynamic size H and W are −1 and named "height" and "width".</summary>
    static (OnnxValue Input, string?[] Symbols) Input(OnnxGraph graph, int inChannels, int imageSize, OnnxExportOptions options)
    {
        long side = options.DynamicSize ? -1 : imageSize;
        string?[] symbols = [options.DynamicBatch ? "batch" : null, null, options.DynamicSize ? "height" : null, options.DynamicSize ? "width" : null];
        return (graph.Input("input", [-1, inChannels, side, side], symbols, options.Batch), symbols);
    }

    static OnnxModelBytes Finish(OnnxGraph graph, string type, int inChannels, int imageSize, OnnxExportOptions options, IReadOnlyDictionary<string, string>? metadata)
    {
        var meta = new Dictionary<string, string> { ["vssm.model_type"] = type, ["vssm.scan_chunk_length"] = options.ScanChunkLength.ToString() };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        var proto = graph.ToModel(typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0", meta);
        return new OnnxModelBytes(proto.ToByteArray(), graph.NodeCount, [options.Batch, inChannels, imageSize, imageSize], options.DynamicBatch, options.Opset,
            options.DynamicSize);
    }
}
