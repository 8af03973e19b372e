using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Interop;

/// <summary>
/// The safetensors format: u64 little-endian header length, a JSON header mapping names to
/// {dtype, shape, data_offsets [begin, end)} (plus optional "__metadata__"), then the raw little-endian data.
/// </summary>
public static class Safetensors
{
    /// <summary>
    /// Reads every tensor. A truncated, corrupt or malformed file throws <see cref="InvalidDataException"/> naming the
    /// path and the fault; declared shapes and offsets are checked against the file before anything is allocated.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file '{path}' does not exist", path);
        byte[] file = File.ReadAllBytes(path);
        if (file.Length < 8) throw new InvalidDataException($"'{path}' is too short to be a safetensors file");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)(file.Length - 8)) throw new InvalidDataException($"'{path}': header length {headerLength} exceeds the file");
        int dataStart = 8 + (int)headerLength;
        long dataLength = file.Length - dataStart;
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        string current = "";
        try
        {
            using var doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException("the header is not a JSON object");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                current = p.Name;
                if (p.Name == "__metadata__") continue;
                if (result.ContainsKey(p.Name)) throw new InvalidDataException($"tensor '{p.Name}' is declared twice");
                if (p.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"tensor '{p.Name}' is not a JSON object");
                var (type, _) = TorchDtypes.FromSafetensors(Property(p.Value, "dtype", JsonValueKind.String).GetString()!);
                long[] shape = Property(p.Value, "shape", JsonValueKind.Array).EnumerateArray().Select(Int64).ToArray();
                var offsets = Property(p.Value, "data_offsets", JsonValueKind.Array).EnumerateArray().Select(Int64).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[0] > offsets[1] || offsets[1] > dataLength)
                    throw new InvalidDataException($"tensor '{p.Name}' has data_offsets [{string.Join(", ", offsets)}]; expected [begin, end) within the {dataLength} data bytes");
                result[p.Name] = TorchDtypes.FromBytes(file.AsSpan(dataStart + (int)offsets[0], (int)(offsets[1] - offsets[0])), type, shape);
            }
            return result;
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or InvalidOperationException or FormatException)
        {
            foreach (var t in result.Values) t.Dispose();
            string where = current.Length > 0 ? $" (at '{current}')" : "";
            throw new InvalidDataException($"'{path}' is not a valid safetensors file{where}: {e.Message}", e);
        }
    }

    static JsonElement Property(JsonElement o, string name, JsonValueKind kind) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == kind ? v
            : throw new InvalidDataException($"missing or non-{kind.ToString().ToLowerInvariant()} \"{name}\"");

    static long Int64(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) ? v : throw new InvalidDataException($"{e} is not an integer");

    /// <summary>Writes the tensors (sorted by name, as the reference implementation does). Atomic (temp + rename).</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value.dtype, kv.Value.shape, Data: TorchDtypes.ToBytes(kv.Value))).ToList();
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, dtype, shape, data) in items)
        {
            header[name] = new { dtype = TorchDtypes.SafetensorsName(dtype), shape, data_offsets = new[] { offset, offset + data.Length } };
            offset += data.Length;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int pad = (8 - json.Length % 8) % 8;   // align the data section to 8 bytes (spaces are valid JSON padding)
        json = [.. json, .. Enumerable.Repeat((byte)' ', pad)];
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)json.Length);
            fs.Write(len);
            fs.Write(json);
            foreach (var item in items) fs.Write(item.Data);
        });
    }
}
