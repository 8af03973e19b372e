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
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file '{path}' does not exist", path);
        byte[] file = File.ReadAllBytes(path);
        if (file.Length < 8) throw new InvalidDataException($"'{path}' is too short to be a safetensors file");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)(file.Length - 8)) throw new InvalidDataException($"'{path}': header length {headerLength} exceeds the file");
        int dataStart = 8 + (int)headerLength;
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var (type, _) = TorchDtypes.FromSafetensors(p.Value.GetProperty("dtype").GetString()!);
            long[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] > offsets[1] || dataStart + offsets[1] > file.Length)
                throw new InvalidDataException($"'{path}': tensor '{p.Name}' has invalid data_offsets");
            result[p.Name] = TorchDtypes.FromBytes(file.AsSpan(dataStart + (int)offsets[0], (int)(offsets[1] - offsets[0])), type, shape);
        }
        return result;
    }

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
