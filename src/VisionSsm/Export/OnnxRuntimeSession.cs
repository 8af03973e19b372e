using Microsoft.ML.OnnxRuntime;

namespace VisionSsm.Export;

/// <summary>
/// An ONNX model loaded in ONNX Runtime's CPU provider (the Microsoft.ML.OnnxRuntime package): full graph
/// optimisation, intra-op threads as given (the same count our runtime uses when compared), inter-op 1, passive waiting.
/// </summary>
public sealed class OnnxRuntimeSession : IDisposable
{
    readonly InferenceSession session;
    readonly string inputName, outputName;

    public OnnxRuntimeSession(byte[] model, int threads)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var options = Options(threads);
        session = new InferenceSession(model, options);
        (inputName, outputName) = (session.InputMetadata.Keys.First(), session.OutputMetadata.Keys.First());
    }

    public OnnxRuntimeSession(string path, int threads)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        using var options = Options(threads);
        try { session = new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"'{path}' is not an ONNX model ONNX Runtime can load: {e.Message}", e); }
        (inputName, outputName) = (session.InputMetadata.Keys.First(), session.OutputMetadata.Keys.First());
    }

    static SessionOptions Options(int threads)
    {
        var o = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = Math.Max(0, threads),
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        // The scan's decays exp(S_t − S_s) underflow towards 0 through subnormals, which cost ~100× a normal float on
        // x86; flushing them to zero changes results by < 1e-38.
        o.AddSessionConfigEntry("session.set_denormal_as_zero", "1");
        // Idle intra-op threads sleep rather than spin, as our libtorch threads do (OMP_WAIT_POLICY=PASSIVE,
        // Runtime/OpenMpPolicy.cs): on a shared or oversubscribed CPU spinning workers starve the others (5× slower
        // on the loaded 2-core bench machine).
        o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return o;
    }

    /// <summary>The model's custom metadata (key → value).</summary>
    public IReadOnlyDictionary<string, string> Metadata => session.ModelMetadata.CustomMetadataMap;

    /// <summary>The input's declared shape; −1 for a symbolic dimension (a dynamic batch).</summary>
    public long[] InputShape => session.InputMetadata[inputName].Dimensions.Select(d => (long)d).ToArray();

    /// <summary>Runs the model on <paramref name="data"/> of <paramref name="shape"/>; returns the output and its shape.</summary>
    public (float[] Data, long[] Shape) Run(float[] data, long[] shape)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(data, shape);
        using var results = session.Run(new RunOptions(), [inputName], [input], [outputName]);
        var output = results[0];
        var info = output.GetTensorTypeAndShape();
        return (output.GetTensorDataAsSpan<float>().ToArray(), info.Shape);
    }

    /// <summary>
    /// Runs the model and returns every output by name, in the graph's order, as float32 (int64 outputs such as a
    /// detector's labels are converted; they are small integers).
    /// </summary>
    public IReadOnlyList<(string Name, float[] Data, long[] Shape)> RunAll(float[] data, long[] shape)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(data, shape);
        var names = session.OutputMetadata.Keys.ToArray();
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [input], names);
        var list = new List<(string, float[], long[])>();
        for (int i = 0; i < names.Length; i++)
        {
            var info = results[i].GetTensorTypeAndShape();
            var values = info.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64
                ? results[i].GetTensorDataAsSpan<long>().ToArray().Select(v => (float)v).ToArray()
                : results[i].GetTensorDataAsSpan<float>().ToArray();
            list.Add((names[i], values, info.Shape));
        }
        return list;
    }

    public void Dispose() => session.Dispose();
}
