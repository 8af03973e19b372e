using System.Diagnostics;
using System.Text.Json;
using VisionSsm.Detection.Models;
using VisionSsm.Interop;
using VisionSsm.Models;
using VisionSsm.Runtime;
using VisionSsm.Segmentation.Models;
using VisionSsm.Segmentation.Training;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Export;

public enum ExportFormat { Onnx, Safetensors, Pth }

/// <summary>What to export (the options of <c>vssm export</c>).</summary>
/// <param name="Model">zoo name</param>
/// <param name="Checkpoint">our .ckpt, or an official-names state dict (.pth/.safetensors); null: the model at its initialisation</param>
/// <param name="Size">input side; null: the checkpoint's, else the zoo default</param>
public sealed record ExportRequest(string Model, string? Checkpoint, ExportFormat Format, string Output, int? Size = null,
    bool DynamicBatch = false, int Opset = OnnxExportOptions.DefaultOpset, int Batch = 1, int Seed = 0,
    int ScanChunkLength = OnnxExportOptions.DefaultScanChunkLength, bool DynamicSize = false)
{
    public static ExportFormat ParseFormat(string text) => text.Trim().ToLowerInvariant() switch
    {
        "onnx" => ExportFormat.Onnx,
        "safetensors" => ExportFormat.Safetensors,
        "pth" or "pt" => ExportFormat.Pth,
        _ => throw new ArgumentException($"--format '{text}': expected onnx, safetensors or pth.", "format"),
    };
}

/// <summary>What an export wrote: the file, its size, and for ONNX the node count and the parity check(s).</summary>
public sealed record ExportReport(string Output, ExportFormat Format, long FileBytes, int? NodeCount, IReadOnlyList<OnnxParity> Parity,
    double Seconds);

/// <summary>
/// The library call behind <c>vssm export</c>: loads a zoo model (optionally a checkpoint), writes it as ONNX or as a
/// state dict with the official names, and for ONNX verifies the graph in ONNX Runtime against our forward before the
/// file appears (written atomically, never left half-written or unverified).
/// </summary>
public static class ModelExport
{
    /// <summary>Metadata keys of our ONNX files (read back by <see cref="OnnxClassifier"/>).</summary>
    public const string ModelKey = "vssm.model", PreprocessingKey = "vssm.preprocessing", ClassesKey = "vssm.classes";
    /// <summary>Metadata of segmentation exports: the task ("segmentation") and the input normalisation (JSON mean/std).</summary>
    public const string TaskKey = "vssm.task", NormalizationKey = "vssm.normalization";

    /// <summary>
    /// Exports the model named in <paramref name="request"/>: a classification zoo name (<see cref="ModelZoo"/>) first,
    /// then a segmentation one (<see cref="SegmentationZoo"/>); any other name is an error listing both.
    /// </summary>
    public static ExportReport Run(ExportRequest request, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrEmpty(request.Output);
        ArgumentException.ThrowIfNullOrEmpty(request.Model);
        bool classification = ModelZoo.Names.Contains(request.Model, StringComparer.Ordinal);
        bool detection = !classification && DetectionZoo.Names.Contains(request.Model, StringComparer.Ordinal);
        if (!classification && !detection && !SegmentationZoo.Names.Contains(request.Model, StringComparer.Ordinal))
            throw new ArgumentException($"--model '{request.Model}': not a zoo model. Classification: {string.Join(", ", ModelZoo.Names)}. " +
                                        $"Segmentation: {string.Join(", ", SegmentationZoo.Names)}. Detection: {string.Join(", ", DetectionZoo.Names)}.", "model");
        if (request.Size is < 1) throw new ArgumentException($"--size {request.Size}: expected a positive image size.", "size");
        if (request.Batch < 1) throw new ArgumentException($"--batch {request.Batch}: expected ≥ 1.", "batch");
        if (request.Opset is < OnnxExportOptions.MinOpset or > OnnxExportOptions.MaxOpset)
            throw new ArgumentException($"--opset {request.Opset}: expected {OnnxExportOptions.MinOpset}–{OnnxExportOptions.MaxOpset} " +
                                        "(LayerNormalization needs 17).", "opset");
        if (request.DynamicSize && request.Format != ExportFormat.Onnx)
            throw new ArgumentException("--dynamic-size applies to --format onnx only.", "dynamic-size");
        if (detection && request.Format == ExportFormat.Onnx)
        {
            if (request.DynamicSize)
                throw new ArgumentException("--dynamic-size: a detector's graph is built for one input size (its anchors are constants for each level's " +
                                            "map and the RPN's top-k counts follow from it); export at the --size you will run.", "dynamic-size");
            if (request.DynamicBatch || request.Batch != 1)
                throw new ArgumentException("--dynamic-batch/--batch: a detector is exported for batch 1 (NMS and the number of detections are per image); " +
                                            "run images one at a time.", request.DynamicBatch ? "dynamic-batch" : "batch");
        }
        CheckWritable(request.Output);
        return classification ? RunClassification(request, ModelZoo.Get(request.Model), log)
            : detection ? RunDetection(request, log) : RunSegmentation(request, log);
    }

    static ExportReport RunClassification(ExportRequest request, ModelEntry entry, Action<string>? log)
    {
        var clock = Stopwatch.StartNew();
        using var loaded = Load(request, entry);
        var model = loaded.Net;
        model.eval();
        log?.Invoke($"{loaded.ModelName}: {model.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters, input {loaded.Preprocessing.Channels}×{loaded.Preprocessing.ImageSize}²");
        switch (request.Format)
        {
            case ExportFormat.Pth:
                PyTorchCheckpoint.SaveStateDict(request.Output, model.state_dict());
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
            case ExportFormat.Safetensors:
                Safetensors.Save(request.Output, model.state_dict(), new Dictionary<string, string> { ["model"] = loaded.ModelName });
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
        }
        var pre = loaded.Preprocessing;
        var options = new OnnxExportOptions(request.Batch, pre.ImageSize, request.DynamicBatch, request.Opset, request.ScanChunkLength, request.DynamicSize);
        log?.Invoke($"building the ONNX graph (opset {options.Opset}, batch {(options.DynamicBatch ? "dynamic" : options.Batch.ToString())}" +
                    $"{(options.DynamicSize ? ", dynamic size" : "")})…");
        var onnx = OnnxExporter.Export(model, pre.Channels, pre.ImageSize, options, Metadata(loaded));
        return VerifyAndWrite(request, loaded.ModelName, onnx, model, model.forward, clock, log);
    }

    static ExportReport RunSegmentation(ExportRequest request, Action<string>? log)
    {
        var clock = Stopwatch.StartNew();
        var entry = SegmentationZoo.Get(request.Model);
        using var loaded = LoadSegmentation(request, entry);
        var model = loaded.Model;
        model.eval();
        int size = request.Size ?? loaded.CropSize;
        log?.Invoke($"{loaded.Name}: {model.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters, input {model.InChannels}×{size}², {model.NumClasses} classes");
        switch (request.Format)
        {
            case ExportFormat.Pth:
                PyTorchCheckpoint.SaveStateDict(request.Output, model.state_dict());
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
            case ExportFormat.Safetensors:
                Safetensors.Save(request.Output, model.state_dict(), new Dictionary<string, string> { ["model"] = loaded.Name });
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
        }
        var options = new OnnxExportOptions(request.Batch, size, request.DynamicBatch, request.Opset, request.ScanChunkLength, request.DynamicSize);
        log?.Invoke($"building the ONNX graph (opset {options.Opset}, batch {(options.DynamicBatch ? "dynamic" : options.Batch.ToString())})…");
        var meta = new Dictionary<string, string>
        {
            [ModelKey] = loaded.Name,
            [TaskKey] = "segmentation",
            [NormalizationKey] = JsonSerializer.Serialize(new { loaded.Mean, loaded.Std }),
            [ClassesKey] = JsonSerializer.Serialize(loaded.Classes),
        };
        var onnx = OnnxExporter.Export(model, size, options, meta);
        return VerifyAndWrite(request, loaded.Name, onnx, model, model.Predict, clock, log);
    }

    /// <summary>
    /// A Mask R-CNN (<see cref="DetectionZoo"/>): at its initialisation (80 classes, 3 channels) or from our detection
    /// <c>.ckpt</c>; ONNX for one image of --size (default: the zoo entry's side), verified against
    /// <see cref="MaskRcnn.Predict"/> on a seeded image (<see cref="OnnxDetectionVerifier"/>) before it is written.
    /// </summary>
    static ExportReport RunDetection(ExportRequest request, Action<string>? log)
    {
        var clock = Stopwatch.StartNew();
        var entry = DetectionZoo.Get(request.Model);
        MaskRcnn model;
        string name = entry.Name;
        IReadOnlyList<string> classes;
        float[] mean = Models.Preprocessing.ImageNetMean, std = Models.Preprocessing.ImageNetStd;
        int size = request.Size ?? entry.ImageSize;
        if (request.Checkpoint is null)
        {
            model = entry.Create(new ModelOptions(NumClasses: 80, InChannels: 3, ImageSize: size));
            classes = Enumerable.Range(0, 80).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        }
        else
        {
            if (!File.Exists(request.Checkpoint)) throw new FileNotFoundException($"--checkpoint '{request.Checkpoint}' does not exist.", request.Checkpoint);
            if (PretrainedWeights.IsWeightsFile(request.Checkpoint))
                throw new ArgumentException($"--checkpoint '{request.Checkpoint}': detectors are exported from our detection .ckpt (vssm detect train); " +
                                            "an official mmdet state dict is not read here.", "checkpoint");
            var opened = Detection.Inference.DetectionPredictor.Open(request.Checkpoint);
            if (opened.Name != entry.Name || opened.Detector is not MaskRcnn rcnn)
            {
                opened.Dispose();
                throw new ArgumentException($"--checkpoint '{request.Checkpoint}' holds the model '{opened.Name}', not '{entry.Name}'.", "checkpoint");
            }
            (model, classes, mean, std) = (rcnn, opened.Classes, opened.Mean, opened.Std);
        }
        using var _ = model;
        model.eval();
        log?.Invoke($"{name}: {model.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters, input {model.InChannels}×{size}², {model.NumClasses} classes");
        switch (request.Format)
        {
            case ExportFormat.Pth:
                PyTorchCheckpoint.SaveStateDict(request.Output, model.state_dict());
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
            case ExportFormat.Safetensors:
                Safetensors.Save(request.Output, model.state_dict(), new Dictionary<string, string> { ["model"] = name });
                return new ExportReport(request.Output, request.Format, new FileInfo(request.Output).Length, null, [], clock.Elapsed.TotalSeconds);
        }
        var options = new OnnxExportOptions(1, size, false, request.Opset, request.ScanChunkLength);
        log?.Invoke($"building the ONNX graph (opset {options.Opset}, one image of {size}²)…");
        var meta = new Dictionary<string, string>
        {
            [ModelKey] = name,
            [TaskKey] = "detection",
            [NormalizationKey] = JsonSerializer.Serialize(new { Mean = mean, Std = std }),
            [ClassesKey] = JsonSerializer.Serialize(classes),
        };
        var onnx = OnnxExporter.Export(model, size, options, meta);
        var bytes = onnx.Bytes;
        log?.Invoke($"{onnx.NodeCount} nodes, {bytes.Length / 1e6:F1} MB; verifying in ONNX Runtime…");
        DetectionParity parity;
        using (var session = new OnnxRuntimeSession(bytes, TorchRuntime.Threads))
        using (var image = OnnxDetectionVerifier.SeededImage(model.InChannels, size, request.Seed))
            parity = OnnxDetectionVerifier.Compare(session, model, image);
        log?.Invoke($"seeded image {size}²: {parity} (tolerance {OnnxParity.Tolerance:E0})");
        if (parity.Detections == 0)
            log?.Invoke("warning: no detections on the seeded image (an untrained head scores every class below the threshold), so only the empty result was compared; " +
                        "export a trained --checkpoint to check boxes, scores and masks.");
        if (!parity.Passed)
            throw new InvalidDataException($"the ONNX export of {name} does not reproduce our Predict ({parity}; tolerance {OnnxParity.Tolerance:E0}); " +
                                           $"nothing was written to '{request.Output}'.");
        AtomicFile.Write(request.Output, fs => fs.Write(bytes));
        var summary = new OnnxParity(1, double.NaN, parity.MaxRelativeError, size);
        return new ExportReport(request.Output, request.Format, bytes.Length, onnx.NodeCount, [summary], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Runs the graph in ONNX Runtime against <paramref name="forward"/>; writes it atomically only when every check passes.</summary>
    static ExportReport VerifyAndWrite(ExportRequest request, string name, OnnxModelBytes onnx, TorchSharp.torch.nn.Module model, Func<Tensor, Tensor> forward,
        Stopwatch clock, Action<string>? log)
    {
        var bytes = onnx.Bytes;
        log?.Invoke($"{onnx.NodeCount} nodes, {bytes.Length / 1e6:F1} MB; verifying in ONNX Runtime…");
        var parity = Verify(bytes, model, forward, onnx.InputShape, request.DynamicBatch, onnx.DynamicSize, request.Seed);
        foreach (var p in parity)
            log?.Invoke($"batch {p.Batch}, {p.Size}²: max |onnx − ours| = {p.MaxAbsError:E2}, relative {p.MaxRelativeError:E2} (tolerance {OnnxParity.Tolerance:E0})");
        var worst = parity.MaxBy(p => p.MaxRelativeError)!;
        if (!worst.Passed)
            throw new InvalidDataException($"the ONNX export of {name} differs from our forward by {worst.MaxRelativeError:E2} relative " +
                                           $"(batch {worst.Batch}, {worst.Size}²), above the tolerance {OnnxParity.Tolerance:E0}; nothing was written to '{request.Output}'.");
        AtomicFile.Write(request.Output, fs => fs.Write(bytes));
        return new ExportReport(request.Output, request.Format, bytes.Length, onnx.NodeCount, parity, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Parity at the export batch and size; for a dynamic batch also at one more; for a dynamic size also at <see cref="SecondSize"/>.</summary>
    static List<OnnxParity> Verify(byte[] bytes, TorchSharp.torch.nn.Module model, Func<Tensor, Tensor> forward, long[] inputShape, bool dynamicBatch,
        bool dynamicSize, int seed)
    {
        using var session = new OnnxRuntimeSession(bytes, TorchRuntime.Threads);
        var result = new List<OnnxParity> { OnnxVerifier.Compare(session, model, forward, inputShape, seed) };
        if (dynamicBatch)
            result.Add(OnnxVerifier.Compare(session, model, forward, [inputShape[0] + 1, .. inputShape[1..]], seed + 1));
        if (dynamicSize)
        {
            long s = SecondSize(inputShape[2]);
            result.Add(OnnxVerifier.Compare(session, model, forward, [inputShape[0], inputShape[1], s, s], seed + 2));
        }
        return result;
    }

    /// <summary>The second size a dynamic-size export is checked at: about half the first and odd (⌊S/2⌋ + 1), so padding paths run too.</summary>
    public static long SecondSize(long size) => size / 2 + 1;

    /// <summary>Fails early, before any work, when the output folder cannot be created or written.</summary>
    static void CheckWritable(string output)
    {
        string full = Path.GetFullPath(output);
        if (Directory.Exists(full)) throw new ArgumentException($"--output '{output}' is a directory; expected a file path.", "output");
        string dir = Path.GetDirectoryName(full)!;
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".probe-{Guid.NewGuid():N}");
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--output '{output}': cannot write to '{dir}' ({e.Message}).", "output", e);
        }
    }

    static InferenceModel Load(ExportRequest request, ModelEntry entry)
    {
        int channels = entry.Preprocessing.Mean.Length;
        if (request.Checkpoint is null)
        {
            int size = request.Size ?? entry.DefaultImageSize;
            var model = ModelZoo.Create(entry.Name, new ModelOptions(InChannels: channels, ImageSize: size));
            var classes = Enumerable.Range(0, model.NumClasses).Select(i => i.ToString()).ToList();
            return new InferenceModel(model, entry.Name, classes, Training.Preprocessing.FromZoo(entry.Preprocessing, channels) with { ImageSize = size }, null);
        }
        if (!File.Exists(request.Checkpoint)) throw new FileNotFoundException($"--checkpoint '{request.Checkpoint}' does not exist.", request.Checkpoint);
        if (PretrainedWeights.IsWeightsFile(request.Checkpoint))
        {
            int size = request.Size ?? entry.DefaultImageSize;
            var model = PretrainedWeights.Create(entry.Name, request.Checkpoint, new ModelOptions(InChannels: channels, ImageSize: size));
            var classes = Enumerable.Range(0, model.NumClasses).Select(i => i.ToString()).ToList();
            return new InferenceModel(model, entry.Name, classes, Training.Preprocessing.FromZoo(entry.Preprocessing, channels) with { ImageSize = size }, null);
        }
        var loaded = CheckpointModel.Open(request.Checkpoint, entry.Name);
        return request.Size is { } s ? loaded with { Preprocessing = loaded.Preprocessing with { ImageSize = s } } : loaded;
    }

    sealed record LoadedSegmentation(SegmentationModel Model, string Name, IReadOnlyList<string> Classes, float[] Mean, float[] Std, int CropSize) : IDisposable
    {
        public void Dispose() => Model.Dispose();
    }

    /// <summary>
    /// A segmentation model: at its initialisation (150 classes as ADE20K, 3 channels, built for --size or the entry's
    /// crop), or from our segmentation <c>.ckpt</c> (which must hold this model) or an official mmseg <c>.pth</c>.
    /// </summary>
    static LoadedSegmentation LoadSegmentation(ExportRequest request, SegmentationEntry entry)
    {
        if (request.Checkpoint is null)
        {
            int size = request.Size ?? entry.CropSize;
            var model = entry.Create(new ModelOptions(NumClasses: 150, InChannels: 3, ImageSize: size));
            var classes = Enumerable.Range(0, model.NumClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            return new LoadedSegmentation(model, entry.Name, classes, Models.Preprocessing.ImageNetMean, Models.Preprocessing.ImageNetStd, size);
        }
        if (!File.Exists(request.Checkpoint)) throw new FileNotFoundException($"--checkpoint '{request.Checkpoint}' does not exist.", request.Checkpoint);
        bool official = PretrainedWeights.IsWeightsFile(request.Checkpoint);
        var opened = SegmentationPredictor.Open(request.Checkpoint, official ? entry.Name : null);
        if (opened.Name != entry.Name)
        {
            opened.Dispose();
            throw new ArgumentException($"--checkpoint '{request.Checkpoint}' holds the model '{opened.Name}', not '{entry.Name}'.", "checkpoint");
        }
        return new LoadedSegmentation(opened.Model, opened.Name, opened.Classes, opened.Mean, opened.Std, opened.CropSize);
    }

    /// <summary>The model name, preprocessing and class names, recorded in the ONNX metadata so predict needs no flags.</summary>
    static Dictionary<string, string> Metadata(InferenceModel loaded) => new()
    {
        [ModelKey] = loaded.ModelName,
        [PreprocessingKey] = JsonSerializer.Serialize(loaded.Preprocessing),
        [ClassesKey] = JsonSerializer.Serialize(loaded.Classes),
    };
}
