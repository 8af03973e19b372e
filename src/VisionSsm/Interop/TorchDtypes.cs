using static TorchSharp.torch;

namespace VisionSsm.Interop;

/// <summary>The correspondence between PyTorch's storage class names, safetensors' dtype names and libtorch dtypes.</summary>
public static class TorchDtypes
{
    static readonly (string Storage, string Safetensors, ScalarType Type, int Size)[] Table =
    [
        ("FloatStorage", "F32", ScalarType.Float32, 4),
        ("DoubleStorage", "F64", ScalarType.Float64, 8),
        ("HalfStorage", "F16", ScalarType.Float16, 2),
        ("BFloat16Storage", "BF16", ScalarType.BFloat16, 2),
        ("LongStorage", "I64", ScalarType.Int64, 8),
        ("IntStorage", "I32", ScalarType.Int32, 4),
        ("ShortStorage", "I16", ScalarType.Int16, 2),
        ("CharStorage", "I8", ScalarType.Int8, 1),
        ("ByteStorage", "U8", ScalarType.Byte, 1),
        ("BoolStorage", "BOOL", ScalarType.Bool, 1),
    ];

    public static (ScalarType Type, int Size) FromStorage(string storageClass) =>
        Table.FirstOrDefault(t => t.Storage == storageClass) is { Storage: not null } e
            ? (e.Type, e.Size)
            : throw new InvalidDataException($"unsupported tensor storage type '{storageClass}'");

    public static (ScalarType Type, int Size) FromSafetensors(string name) =>
        Table.FirstOrDefault(t => t.Safetensors == name) is { Storage: not null } e
            ? (e.Type, e.Size)
            : throw new InvalidDataException($"unsupported safetensors dtype '{name}'");

    public static string StorageName(ScalarType type) => Entry(type).Storage;
    public static string SafetensorsName(ScalarType type) => Entry(type).Safetensors;
    public static int ElementSize(ScalarType type) => Entry(type).Size;

    static (string Storage, string Safetensors, ScalarType Type, int Size) Entry(ScalarType type) =>
        Table.FirstOrDefault(t => t.Type == type) is { Storage: not null } e
            ? e
            : throw new ArgumentException($"dtype {type} cannot be stored in a PyTorch/safetensors file");

    /// <summary>A contiguous CPU tensor of <paramref name="shape"/> built from little-endian raw bytes.</summary>
    /// <remarks>The shape is checked against the data length before anything is allocated, so a file cannot make
    /// the reader allocate more than it holds.</remarks>
    public static Tensor FromBytes(ReadOnlySpan<byte> data, ScalarType type, long[] shape)
    {
        long bytes = CheckedByteCount(shape, type, data.Length);
        if (data.Length != bytes)
            throw new InvalidDataException($"tensor data has {data.Length} bytes; expected {bytes} for {type} [{string.Join(", ", shape)}]");
        var t = empty(shape, dtype: type);
        if (data.Length > 0) data.CopyTo(t.bytes);
        return t;
    }

    /// <summary>
    /// The byte size of a <paramref name="type"/> tensor of <paramref name="shape"/>; throws
    /// <see cref="InvalidDataException"/> for a negative size or a product above <paramref name="limit"/> bytes
    /// (no overflow: the product stops growing past the limit).
    /// </summary>
    public static long CheckedByteCount(long[] shape, ScalarType type, long limit)
    {
        if (shape.Any(d => d < 0)) throw new InvalidDataException($"tensor shape [{string.Join(", ", shape)}] has a negative size");
        if (shape.Contains(0)) return 0;
        long bytes = ElementSize(type);
        foreach (long d in shape)
        {
            if (bytes > limit / d)
                throw new InvalidDataException($"tensor shape [{string.Join(", ", shape)}] {type} needs more than the {limit} bytes available");
            bytes *= d;
        }
        return bytes;
    }

    /// <summary>True for the dtypes this table can store (<see cref="ElementSize"/> is defined).</summary>
    public static bool IsStorable(ScalarType type) => Table.Any(t => t.Type == type);

    /// <summary>The raw little-endian bytes of <paramref name="t"/> (made contiguous on the CPU first).</summary>
    public static byte[] ToBytes(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return c.numel() == 0 ? [] : c.bytes.ToArray();
    }
}
