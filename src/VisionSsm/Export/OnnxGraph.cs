using VisionSsm.Runtime;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace VisionSsm.Export;

/// <summary>
/// A value of the graph being built: its name and its shape, with −1 for the one dimension that depends on the batch
/// (the batch itself, or a dimension the batch was merged into). Every other dimension is known at export time, so a
/// reshape can name them as constants and still run at any batch.
/// </summary>
public sealed record OnnxValue(string Name, long[] Shape)
{
    public int Rank => Shape.Length;
    public long this[int axis] => Shape[axis < 0 ? Shape.Length + axis : axis];
}

/// <summary>
/// Builds an ONNX graph (the protobuf classes of the OnnxSharp package) one node at a time, tracking each value's shape
/// so emitters can write reshapes with constant dimensions. Weights become float32 initializers; small integer and
/// scalar constants are initializers shared by content. Each helper is one ONNX node of the default domain.
/// </summary>
public sealed class OnnxGraph
{
    readonly GraphProto graph = new() { Name = "vssm" };
    readonly Dictionary<string, string> constants = new(StringComparer.Ordinal);
    readonly HashSet<string> names = new(StringComparer.Ordinal);
    int counter;

    public OnnxGraph(int opset)
    {
        if (opset is < OnnxExportOptions.MinOpset or > OnnxExportOptions.MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(opset), opset, $"expected an opset from {OnnxExportOptions.MinOpset} to {OnnxExportOptions.MaxOpset}");
        Opset = opset;
    }

    public int Opset { get; }
    public int NodeCount => graph.Node.Count;
    public GraphProto Proto => graph;

    string Fresh(string hint)
    {
        string name;
        do name = $"{hint}_{counter++}"; while (!names.Add(name));
        return name;
    }

    // ---- graph inputs, outputs, initializers ----------------------------------------------------------------------

    /// <summary>A float32 graph input; <paramref name="shape"/> −1 marks the batch dimension, named "batch".</summary>
    public OnnxValue Input(string name, long[] shape, bool dynamicBatch, long batch) =>
        Input(name, shape, BatchSymbols(shape, dynamicBatch), batch);

    /// <summary>
    /// A float32 graph input whose −1 dimensions are symbolic where <paramref name="symbols"/> names them (e.g. "batch",
    /// "height") and fixed to <paramref name="batch"/> where it does not (a static batch).
    /// </summary>
    public OnnxValue Input(string name, long[] shape, IReadOnlyList<string?> symbols, long batch)
    {
        names.Add(name);
        graph.Input.Add(ValueInfo(name, shape, symbols, batch));
        return new OnnxValue(name, shape);
    }

    public void Output(OnnxValue value, string name, bool dynamicBatch, long batch) =>
        Output(value, name, BatchSymbols(value.Shape, dynamicBatch), batch);

    public void Output(OnnxValue value, string name, IReadOnlyList<string?> symbols, long batch)
    {
        var v = Node("Identity", [value.Name], value.Shape, name: name);
        graph.Output.Add(ValueInfo(v.Name, v.Shape, symbols, batch));
    }

    static string?[] BatchSymbols(long[] shape, bool dynamicBatch) => shape.Select(d => d < 0 && dynamicBatch ? "batch" : null).ToArray();

    static ValueInfoProto ValueInfo(string name, long[] shape, IReadOnlyList<string?> symbols, long batch)
    {
        var tensorShape = new TensorShapeProto();
        for (int i = 0; i < shape.Length; i++)
        {
            long d = shape[i];
            string? symbol = i < symbols.Count ? symbols[i] : null;
            tensorShape.Dim.Add(d >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = d }
                : symbol is not null ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = batch });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } },
        };
    }

    /// <summary>A float32 initializer holding <paramref name="t"/> (any float dtype, any device; copied).</summary>
    public OnnxValue Weight(Tensor t, string hint)
    {
        using var f = t.detach().to(ScalarType.Float32).cpu().contiguous();
        var data = f.data<float>().ToArray();
        return FloatTensor(data, f.shape, hint);
    }

    public OnnxValue FloatTensor(float[] data, long[] shape, string hint)
    {
        var name = Fresh(Sanitize(hint));
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(shape);
        var bytes = new byte[data.Length * sizeof(float)];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        proto.RawData = ByteString.CopyFrom(bytes);
        graph.Initializer.Add(proto);
        return new OnnxValue(name, shape);
    }

    /// <summary>A 1-D int64 constant (shared by content), e.g. a reshape target or slice bounds.</summary>
    public string Ints(params long[] values)
    {
        string key = "i:" + string.Join(",", values);
        if (constants.TryGetValue(key, out var existing)) return existing;
        var name = Fresh("c");
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.Int64Data.AddRange(values);
        graph.Initializer.Add(proto);
        constants[key] = name;
        return name;
    }

    /// <summary>A float32 scalar constant (shared by value).</summary>
    public OnnxValue Scalar(float value)
    {
        string key = "f:" + BitConverter.SingleToInt32Bits(value);
        if (!constants.TryGetValue(key, out var name))
        {
            name = FloatTensor([value], [], "s").Name;
            constants[key] = name;
        }
        return new OnnxValue(name, []);
    }

    static string Sanitize(string hint) => hint.Length == 0 ? "w" : hint;

    // ---- nodes ----------------------------------------------------------------------------------------------------

    /// <summary>Adds one node with one output of the given shape.</summary>
    public OnnxValue Node(string op, IEnumerable<string> inputs, long[] shape, IEnumerable<AttributeProto>? attributes = null, string? name = null)
    {
        var output = name ?? Fresh(op.ToLowerInvariant());
        if (name is not null) names.Add(name);
        var node = new NodeProto { OpType = op, Name = Fresh("n") };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        if (attributes is not null) node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return new OnnxValue(output, shape);
    }

    /// <summary>Adds one node with several outputs.</summary>
    public OnnxValue[] NodeMulti(string op, IEnumerable<string> inputs, IReadOnlyList<long[]> shapes, IEnumerable<AttributeProto>? attributes = null)
    {
        var node = new NodeProto { OpType = op, Name = Fresh("n") };
        node.Input.AddRange(inputs);
        var outs = shapes.Select(s => new OnnxValue(Fresh(op.ToLowerInvariant()), s)).ToArray();
        node.Output.AddRange(outs.Select(o => o.Name));
        if (attributes is not null) node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return outs;
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    // ---- shape-aware helpers (one node each) ---------------------------------------------------------------------

    public OnnxValue Add(OnnxValue a, OnnxValue b) => Node("Add", [a.Name, b.Name], Broadcast(a.Shape, b.Shape));
    public OnnxValue Sub(OnnxValue a, OnnxValue b) => Node("Sub", [a.Name, b.Name], Broadcast(a.Shape, b.Shape));
    public OnnxValue Mul(OnnxValue a, OnnxValue b) => Node("Mul", [a.Name, b.Name], Broadcast(a.Shape, b.Shape));
    public OnnxValue Div(OnnxValue a, OnnxValue b) => Node("Div", [a.Name, b.Name], Broadcast(a.Shape, b.Shape));
    public OnnxValue Unary(string op, OnnxValue x) => Node(op, [x.Name], x.Shape);

    /// <summary>SiLU x·σ(x) (no SiLU operator before opset 24... two nodes).</summary>
    public OnnxValue Silu(OnnxValue x) => Mul(x, Unary("Sigmoid", x));

    /// <summary>Exact (erf) GELU: the Gelu operator from opset 20, else 0.5·x·(1 + erf(x/√2)), a pattern ONNX Runtime fuses.</summary>
    public OnnxValue Gelu(OnnxValue x)
    {
        if (Opset >= 20) return Node("Gelu", [x.Name], x.Shape);
        var e = Unary("Erf", Div(x, Scalar(MathF.Sqrt(2f))));
        return Mul(Mul(x, Add(e, Scalar(1f))), Scalar(0.5f));
    }

    public OnnxValue MatMul(OnnxValue a, OnnxValue b)
    {
        if (a.Rank < 2 || b.Rank < 2) throw new InvalidOperationException($"MatMul of ranks {a.Rank} and {b.Rank}");
        if (a[-1] != b[-2]) throw new InvalidOperationException($"MatMul inner dimensions differ: {Fmt(a.Shape)} × {Fmt(b.Shape)}");
        var batch = Broadcast(a.Shape[..^2], b.Shape[..^2]);
        return Node("MatMul", [a.Name, b.Name], [.. batch, a[-2], b[-1]]);
    }

    public OnnxValue Reshape(OnnxValue x, params long[] shape)
    {
        if (shape.Count(d => d < 0) > 1) throw new InvalidOperationException($"Reshape to {Fmt(shape)}: at most one −1");
        long known = shape.Where(d => d >= 0).Aggregate(1L, (p, d) => p * d);
        long staticIn = x.Shape.Where(d => d >= 0).Aggregate(1L, (p, d) => p * d);
        bool dynamicIn = x.Shape.Any(d => d < 0), dynamicOut = shape.Any(d => d < 0);
        if (dynamicIn != dynamicOut || (!dynamicIn && known != staticIn) || (dynamicIn && known != 0 && staticIn % known != 0 && known % staticIn != 0))
            throw new InvalidOperationException($"Reshape {Fmt(x.Shape)} → {Fmt(shape)} does not keep the element count");
        return Node("Reshape", [x.Name, Ints(shape)], shape);
    }

    public OnnxValue Transpose(OnnxValue x, params long[] perm) =>
        Node("Transpose", [x.Name], perm.Select(p => x.Shape[p]).ToArray(), [Attr("perm", perm)]);

    public OnnxValue Concat(int axis, params OnnxValue[] xs)
    {
        int ax = axis < 0 ? xs[0].Rank + axis : axis;
        var shape = (long[])xs[0].Shape.Clone();
        shape[ax] = xs.Sum(v => v.Shape[ax]);
        return Node("Concat", xs.Select(v => v.Name), shape, [Attr("axis", (long)ax)]);
    }

    /// <summary>Splits <paramref name="axis"/> into pieces of the given sizes (opset ≥ 13: sizes as an input).</summary>
    public OnnxValue[] Split(OnnxValue x, int axis, params long[] sizes)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        if (sizes.Sum() != x.Shape[ax]) throw new InvalidOperationException($"Split of {x.Shape[ax]} into {Fmt(sizes)}");
        var shapes = sizes.Select(s => { var sh = (long[])x.Shape.Clone(); sh[ax] = s; return sh; }).ToArray();
        return NodeMulti("Split", [x.Name, Ints(sizes)], shapes, [Attr("axis", (long)ax)]);
    }

    /// <summary>x[start:end] along <paramref name="axis"/> (step 1).</summary>
    public OnnxValue Slice(OnnxValue x, int axis, long start, long end)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        var shape = (long[])x.Shape.Clone();
        shape[ax] = end - start;
        return Node("Slice", [x.Name, Ints(start), Ints(end), Ints(ax)], shape);
    }

    /// <summary>x[start::step] along <paramref name="axis"/> with a positive step.</summary>
    public OnnxValue SliceStep(OnnxValue x, int axis, long start, long step)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        var shape = (long[])x.Shape.Clone();
        shape[ax] = (x.Shape[ax] - start + step - 1) / step;
        return Node("Slice", [x.Name, Ints(start), Ints(x.Shape[ax]), Ints(ax), Ints(step)], shape);
    }

    /// <summary>x reversed along <paramref name="axis"/> (a Slice with step −1).</summary>
    public OnnxValue Flip(OnnxValue x, int axis)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        return Node("Slice", [x.Name, Ints(-1), Ints(long.MinValue), Ints(ax), Ints(-1)], x.Shape);
    }

    /// <summary>x[..., index, ...]: the axis removed.</summary>
    public OnnxValue Select(OnnxValue x, int axis, long index)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        var shape = x.Shape.Where((_, i) => i != ax).ToArray();
        var idx = IntScalar(index);
        return Node("Gather", [x.Name, idx], shape, [Attr("axis", (long)ax)]);
    }

    /// <summary>A 0-D int64 constant (shared by value), e.g. a Gather index or a Range bound.</summary>
    public string IntScalar(long value)
    {
        string key = "is:" + value;
        if (constants.TryGetValue(key, out var existing)) return existing;
        var name = Fresh("c");
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Int64Data.Add(value);
        graph.Initializer.Add(proto);
        constants[key] = name;
        return name;
    }

    public OnnxValue Unsqueeze(OnnxValue x, int axis)
    {
        int ax = axis < 0 ? x.Rank + 1 + axis : axis;
        var shape = x.Shape.ToList();
        shape.Insert(ax, 1);
        return Node("Unsqueeze", [x.Name, Ints(ax)], shape.ToArray());
    }

    public OnnxValue Squeeze(OnnxValue x, int axis)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        return Node("Squeeze", [x.Name, Ints(ax)], x.Shape.Where((_, i) => i != ax).ToArray());
    }

    public OnnxValue ReduceSum(OnnxValue x, int axis, bool keepDims)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        return Node("ReduceSum", [x.Name, Ints(ax)], Reduced(x.Shape, [ax], keepDims), [Attr("keepdims", keepDims ? 1L : 0L)]);
    }

    /// <summary>Mean over <paramref name="axes"/>; the axes are an attribute before opset 18 and an input from 18.</summary>
    public OnnxValue ReduceMean(OnnxValue x, bool keepDims, params int[] axes)
    {
        var ax = axes.Select(a => (long)(a < 0 ? x.Rank + a : a)).ToArray();
        var shape = Reduced(x.Shape, ax.Select(a => (int)a).ToArray(), keepDims);
        return Opset >= 18
            ? Node("ReduceMean", [x.Name, Ints(ax)], shape, [Attr("keepdims", keepDims ? 1L : 0L)])
            : Node("ReduceMean", [x.Name], shape, [Attr("axes", ax), Attr("keepdims", keepDims ? 1L : 0L)]);
    }

    static long[] Reduced(long[] shape, int[] axes, bool keep) =>
        keep ? shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray() : shape.Where((_, i) => !axes.Contains(i)).ToArray();

    public OnnxValue CumSum(OnnxValue x, int axis)
    {
        int ax = axis < 0 ? x.Rank + axis : axis;
        return Node("CumSum", [x.Name, IntScalar(ax)], x.Shape);
    }

    /// <summary>Zero-pads the last axis by (<paramref name="before"/>, <paramref name="after"/>).</summary>
    public OnnxValue PadLast(OnnxValue x, long before, long after)
    {
        var pads = new long[2 * x.Rank];
        pads[x.Rank - 1] = before;
        pads[2 * x.Rank - 1] = after;
        var shape = (long[])x.Shape.Clone();
        shape[^1] += before + after;
        return Node("Pad", [x.Name, Ints(pads)], shape);
    }

    public OnnxValue LayerNorm(OnnxValue x, OnnxValue weight, OnnxValue bias, double eps) =>
        Node("LayerNormalization", [x.Name, weight.Name, bias.Name], x.Shape, [Attr("axis", -1L), Attr("epsilon", (float)eps)]);

    public OnnxValue Softmax(OnnxValue x, int axis) => Node("Softmax", [x.Name], x.Shape, [Attr("axis", (long)axis)]);

    /// <summary>2-D convolution (NCHW) with explicit begin/end pads per spatial axis.</summary>
    public OnnxValue Conv(OnnxValue x, OnnxValue w, OnnxValue? b, long[] strides, long[] pads, long groups, long[]? dilations = null)
    {
        int spatial = x.Rank - 2;
        dilations ??= Enumerable.Repeat(1L, spatial).ToArray();
        var shape = new long[x.Rank];
        shape[0] = x[0];
        shape[1] = w[0];
        for (int i = 0; i < spatial; i++)
        {
            long k = w.Shape[2 + i];
            shape[2 + i] = x.Shape[2 + i] < 0 ? -1   // a symbolic (dynamic) spatial size stays symbolic
                : (x.Shape[2 + i] + pads[i] + pads[i + spatial] - dilations[i] * (k - 1) - 1) / strides[i] + 1;
        }
        var inputs = b is null ? new[] { x.Name, w.Name } : [x.Name, w.Name, b.Name];
        return Node("Conv", inputs, shape, [Attr("strides", strides), Attr("pads", pads), Attr("group", groups), Attr("dilations", dilations),
            Attr("kernel_shape", w.Shape[2..])]);
    }

    public OnnxValue Pool(string op, OnnxValue x, long[] kernel, long[] strides, long[] pads)
    {
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < 2; i++) shape[2 + i] = x.Shape[2 + i] < 0 ? -1 : (x.Shape[2 + i] + pads[i] + pads[i + 2] - kernel[i]) / strides[i] + 1;
        return Node(op, [x.Name], shape, [Attr("kernel_shape", kernel), Attr("strides", strides), Attr("pads", pads)]);
    }

    /// <summary>2-D transposed convolution (NCHW), no padding: W (C_in, C_out, k, k) as PyTorch stores it; out = (in − 1)·stride + k.</summary>
    public OnnxValue ConvTranspose(OnnxValue x, OnnxValue w, OnnxValue? b, long[] strides)
    {
        var shape = (long[])x.Shape.Clone();
        shape[1] = w[1];
        for (int i = 0; i < 2; i++) shape[2 + i] = x.Shape[2 + i] < 0 ? -1 : (x.Shape[2 + i] - 1) * strides[i] + w.Shape[2 + i];
        var inputs = b is null ? new[] { x.Name, w.Name } : [x.Name, w.Name, b.Name];
        return Node("ConvTranspose", inputs, shape, [Attr("strides", strides), Attr("kernel_shape", w.Shape[2..])]);
    }

    /// <summary>
    /// Bilinear resize of the last two axes of NCHW <paramref name="x"/> to <paramref name="height"/>×<paramref name="width"/>
    /// as PyTorch's <c>interpolate(mode='bilinear', align_corners=False)</c> with an explicit size: source coordinate
    /// (dst + ½)·in/out − ½, clamped at the edges, no antialiasing — ONNX <c>Resize</c> with <c>half_pixel</c> and
    /// <c>linear</c>. The target is given as <c>sizes</c>, so the output size is exact (scales would round).
    /// </summary>
    public OnnxValue Resize(OnnxValue x, long height, long width)
    {
        if (x.Rank != 4) throw new InvalidOperationException($"Resize of a rank-{x.Rank} value; expected NCHW");
        if (x[2] == height && x[3] == width) return x;
        if (Opset >= 18)   // the axes attribute: sizes name only H and W
            return Node("Resize", [x.Name, "", "", Ints(height, width)], [x[0], x[1], height, width],
                [Attr("mode", "linear"), Attr("coordinate_transformation_mode", "half_pixel"), Attr("axes", 2L, 3L)]);
        string sizes = x[0] >= 0 && x[1] >= 0 ? Ints(x[0], x[1], height, width)
            : Node("Concat", [Node("Shape", [x.Name], [2], [Attr("start", 0L), Attr("end", 2L)]).Name, Ints(height, width)], [4], [Attr("axis", 0L)]).Name;
        return ResizeNode(x, sizes, [x[0], x[1], height, width]);
    }

    /// <summary>The bilinear Resize node (as <see cref="Resize(OnnxValue, long, long)"/>) to a run-time <paramref name="sizes"/> (int64[4]).</summary>
    public OnnxValue ResizeNode(OnnxValue x, string sizes, long[] shape) =>
        Node("Resize", [x.Name, "", "", sizes], shape,
            [Attr("mode", "linear"), Attr("coordinate_transformation_mode", "half_pixel")]);

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>y = x·Wᵀ + b over the last axis, W (out, in) as PyTorch stores it; Wᵀ is stored pre-transposed.</summary>
    public OnnxValue Linear(OnnxValue x, Tensor weight, Tensor? bias, string hint, double scale = 1.0)
    {
        using var wt = weight.detach().t().contiguous();
        using var scaled = scale == 1.0 ? wt.alias() : wt.Times(scale);
        var y = MatMul(x, Weight(scaled, hint + ".weight"));
        if (bias is null) return y;
        using var bs = scale == 1.0 ? bias.detach().alias() : bias.detach().Times(scale);
        return Add(y, Weight(bs, hint + ".bias"));
    }

    static long[] Broadcast(long[] a, long[] b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new long[n];
        for (int i = 0; i < n; i++)
        {
            long da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            long db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da == 1) r[i] = db;
            else if (db == 1 || da == db) r[i] = da;
            else if (da < 0 || db < 0) r[i] = -1;
            else throw new InvalidOperationException($"shapes {Fmt(a)} and {Fmt(b)} do not broadcast");
        }
        return r;
    }

    internal static string Fmt(long[] shape) => "(" + string.Join(", ", shape.Select(d => d < 0 ? "B" : d.ToString())) + ")";

    /// <summary>The model: IR version 8 (the one that goes with opsets 17–18; ONNX Runtime reads it at every opset here).</summary>
    public ModelProto ToModel(string producerVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = Opset >= 19 ? 9 : 8,
            ProducerName = "VisionSsm",
            ProducerVersion = producerVersion,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }
}
