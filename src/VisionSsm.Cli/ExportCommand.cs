using System.CommandLine;
using VisionSsm.Export;
using VisionSsm.Runtime;

namespace VisionSsm.Cli;

/// <summary>`vssm export`: a zoo model (optionally with a checkpoint) as ONNX, verified in ONNX Runtime, or as a state dict.</summary>
static class ExportCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("export", "Export a model as ONNX (checked against our forward in ONNX Runtime before it is written) or as a " +
                                        "state dict with the official names (.pth / .safetensors).");
        var model = new Option<string>("--model") { Description = "zoo model name: a classification model, a segmentation one (upernet_*) or a detector (maskrcnn_*)", Required = true };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "our .ckpt, or a state dict with official names (.pth/.safetensors); default: the model at its initialisation" };
        var format = new Option<string>("--format") { Description = "onnx, safetensors or pth", DefaultValueFactory = _ => "onnx" };
        var output = new Option<string>("--output", "-o") { Description = "file to write", Required = true };
        var size = new Option<int?>("--size") { Description = "input side (default: the checkpoint's, else the model's)" };
        var dynamicBatch = new Option<bool>("--dynamic-batch") { Description = "ONNX: a symbolic batch dimension (checked at two batch sizes)" };
        var dynamicSize = new Option<bool>("--dynamic-size") { Description = "ONNX: symbolic height and width (plain ResNets and their UperNets only; checked at two sizes)" };
        var batch = new Option<int>("--batch") { Description = "ONNX: the batch of a static graph (and the first one checked)", DefaultValueFactory = _ => 1 };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset, {OnnxExportOptions.MinOpset}–{OnnxExportOptions.MaxOpset}", DefaultValueFactory = _ => OnnxExportOptions.DefaultOpset };
        var chunk = new Option<int>("--scan-chunk") { Description = "chunk length Q of the exported loop-free scan", DefaultValueFactory = _ => OnnxExportOptions.DefaultScanChunkLength };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        foreach (var o in new Option[] { model, checkpoint, format, output, size, dynamicBatch, dynamicSize, batch, opset, chunk }) cmd.Options.Add(o);
        CommonOptions.Add(cmd, threads, device);
        cmd.SetAction(p => CommonOptions.Guard(ctx, () =>
        {
            CommonOptions.Apply(p, threads, device);
            if (p.GetValue(chunk) < 2) throw new ArgumentException($"--scan-chunk {p.GetValue(chunk)}: expected ≥ 2.", "scan-chunk");
            var request = new ExportRequest(p.GetValue(model)!, p.GetValue(checkpoint), ExportRequest.ParseFormat(p.GetValue(format)!),
                p.GetValue(output)!, p.GetValue(size), p.GetValue(dynamicBatch), p.GetValue(opset), p.GetValue(batch),
                ScanChunkLength: p.GetValue(chunk), DynamicSize: p.GetValue(dynamicSize));
            var report = ModelExport.Run(request, m => ctx.Error.WriteLine(m));
            ctx.Out.WriteLine($"wrote {report.Output} ({report.Format.ToString().ToLowerInvariant()}, {report.FileBytes / 1e6:F1} MB) in {report.Seconds:F1} s");
            if (report.NodeCount is { } nodes)
            {
                var worst = report.Parity.Max(q => q.MaxRelativeError);
                ctx.Out.WriteLine($"nodes {nodes}, max relative error {worst:E2} vs our forward (tolerance {OnnxParity.Tolerance:E0}; " +
                                  $"{string.Join(", ", report.Parity.Select(q => $"batch {q.Batch} at {q.Size}²"))})");
            }
            return 0;
        }));
        return cmd;
    }
}
