using System.IO.Compression;
using System.Text;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Interop;

/// <summary>
/// Reads and writes PyTorch's zip checkpoint format (<c>torch.save</c> since 1.6): a zip holding
/// <c>&lt;archive&gt;/data.pkl</c> (a pickle whose tensors are persistent ids naming storages) and one file per storage
/// under <c>&lt;archive&gt;/data/&lt;key&gt;</c>. Tensors come back as contiguous CPU tensors. Nothing is executed: only
/// the globals a state_dict needs are understood (OrderedDict, tensor/parameter rebuild, storage types).
/// The legacy pre-1.6 (non-zip) format is not supported.
/// </summary>
public static class PyTorchCheckpoint
{
    /// <summary>
    /// Deflate expands at most about 1032:1, so an entry declaring more than this many bytes per compressed byte lies
    /// about its size; it is rejected before its buffer is allocated.
    /// </summary>
    const long MaxInflateRatio = 1032;

    /// <summary>
    /// Loads the whole pickled object (a dict for checkpoints; tensors as <see cref="Tensor"/>). A corrupt, truncated or
    /// malformed file throws <see cref="InvalidDataException"/> naming the path and the fault; every declared size
    /// (zip entries, storages, tensor shapes) is checked against the file before it is allocated.
    /// </summary>
    public static object? Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
        try
        {
            return LoadChecked(path);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or ArgumentException
                                      or InvalidCastException or NotSupportedException or System.Runtime.InteropServices.ExternalException)
        {
            if (e is InvalidDataException && e.Message.Contains(path, StringComparison.Ordinal)) throw;
            throw new InvalidDataException($"'{path}' is not a readable PyTorch checkpoint: {e.Message}", e);
        }
    }

    static object? LoadChecked(string path)
    {
        long fileLength = new FileInfo(path).Length;
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}' is not a PyTorch zip checkpoint (torch.save from PyTorch ≥ 1.6); legacy or corrupt files are not supported", e);
        }
        using (zip)
        {
            var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                ?? throw new InvalidDataException($"'{path}' has no <archive>/data.pkl entry: not a PyTorch checkpoint");
            string prefix = pkl.FullName[..^"data.pkl".Length];
            var storages = new Dictionary<string, Tensor>();
            using var scope = NewDisposeScope();

            object? PersistentLoad(object? pid)
            {
                // ('storage', <storage class>, key, location, numel)
                if (pid is not object?[] { Length: >= 5 } t || t[0] as string != "storage" || t[1] is not PickleGlobal cls || t[2] is not string key)
                    throw new InvalidDataException($"'{path}': unsupported persistent id");
                if (storages.TryGetValue(key, out var s)) return s;
                var (type, size) = TorchDtypes.FromStorage(cls.Name);
                var entry = zip.GetEntry(prefix + "data/" + key) ?? throw new InvalidDataException($"'{path}': storage {key} is missing");
                byte[] data = ReadEntry(entry, path, fileLength);
                if (data.Length % size != 0)
                    throw new InvalidDataException($"'{path}': storage {key} has {data.Length} bytes, not a whole number of {size}-byte {cls.Name} elements");
                return storages[key] = TorchDtypes.FromBytes(data, type, [data.Length / size]);
            }

            // Only these globals are interpreted; every other one (config classes, numpy, argparse, …) becomes an inert
            // PickleObject, so a training file's extra entries load without running anything.
            object? Call(PickleGlobal g, object?[] args) => g.FullName switch
            {
                "collections.OrderedDict" => new Dictionary<object, object?>(),
                "torch._utils._rebuild_tensor_v2" => RebuildTensor(args, path),
                "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state" when args.Length > 0 => args[0],
                // Tensor subclasses: _rebuild_from_type_v2(func, type, func_args, state) → func(*func_args).
                "torch._tensor._rebuild_from_type_v2" when args is [PickleGlobal f, _, object?[] fargs, ..] => Call(f, fargs),
                _ => new PickleObject(g, args),
            };

            using var stream = new MemoryStream(ReadEntry(pkl, path, fileLength), writable: false);
            var result = new PickleReader(stream, Call, PersistentLoad).Load();
            MoveOut(result);
            return result;
        }
    }

    /// <summary>An entry's bytes; its declared size is checked against the file before the buffer is allocated.</summary>
    static byte[] ReadEntry(ZipArchiveEntry entry, string path, long fileLength)
    {
        long declared = entry.Length, compressed = entry.CompressedLength;
        if (declared < 0 || compressed < 0 || compressed > fileLength || declared > Math.Max(compressed, 1) * MaxInflateRatio || declared > Array.MaxLength)
            throw new InvalidDataException($"'{path}': zip entry {entry.FullName} declares {declared} bytes ({compressed} compressed) in a {fileLength}-byte file");
        var data = new byte[declared];
        using var s = entry.Open();
        s.ReadExactly(data);
        if (s.ReadByte() >= 0) throw new InvalidDataException($"'{path}': zip entry {entry.FullName} holds more than its declared {declared} bytes");
        return data;
    }
    /// <summary>
    /// Loads a state_dict: the file's top-level dict, or the dict under <paramref name="key"/>, or — for training
    /// checkpoints — under "model", "state_dict" or "module" (timm / official repos write <c>{"model": …}</c>).
    /// </summary>
    public static Dictionary<string, Tensor> LoadStateDict(string path, string? key = null)
    {
        var root = Load(path) as Dictionary<object, object?> ?? throw new InvalidDataException($"'{path}' does not hold a dict");
        var dict = root;
        string[] candidates = key is null ? ["model", "state_dict", "module", "model_state_dict"] : [key];
        foreach (var k in candidates)
            if (root.TryGetValue(k, out var inner) && inner is Dictionary<object, object?> d) { dict = d; break; }
            else if (key is not null) throw new KeyNotFoundException($"'{path}' has no entry '{key}' (entries: {string.Join(", ", root.Keys)})");
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in dict)
            if (k is string name && v is Tensor t) result[name] = t;
        if (result.Count == 0) throw new InvalidDataException($"'{path}' holds no tensors under the keys tried ({string.Join(", ", candidates)})");
        return result;
    }

    /// <summary>Writes <paramref name="stateDict"/> so that <c>torch.load</c> returns an OrderedDict of tensors. Atomic (temp + rename).</summary>
    public static void SaveStateDict(string path, IEnumerable<KeyValuePair<string, Tensor>> stateDict)
    {
        var entries = stateDict.ToList();
        string archive = Path.GetFileNameWithoutExtension(path) is { Length: > 0 } n ? n : "archive";
        AtomicFile.Write(path, fs =>
        {
            using var zip = new ZipArchive(fs, ZipArchiveMode.Create, leaveOpen: true);
            // Stored, not deflated: torch.load reads storages by offset and requires uncompressed entries.
            Write(zip, $"{archive}/data.pkl", PickleWriter.StateDict(entries));
            Write(zip, $"{archive}/byteorder", Encoding.ASCII.GetBytes("little"));
            for (int i = 0; i < entries.Count; i++) Write(zip, $"{archive}/data/{i}", TorchDtypes.ToBytes(entries[i].Value));
            Write(zip, $"{archive}/version", Encoding.ASCII.GetBytes("3\n"));
        });
    }

    static void Write(ZipArchive zip, string name, byte[] data)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        s.Write(data);
    }

    static Tensor RebuildTensor(object?[] args, string path)
    {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args is not [Tensor storage, long offset, object?[] sizeItems, object?[] strideItems, ..])
            throw new InvalidDataException($"'{path}': _rebuild_tensor_v2 arguments are not (storage, offset, size, stride, …)");
        long[] size = Longs(sizeItems, "size", path), stride = Longs(strideItems, "stride", path);
        long storageNumel = storage.numel();
        // Checked here, before libtorch sees it: every element must lie inside the storage, and the tensor may not have
        // more elements than its storage (so a stride-0 view cannot make contiguous() allocate beyond the file).
        string Bad(string why) => $"'{path}': tensor size [{string.Join(", ", size)}] stride [{string.Join(", ", stride)}] offset {offset} {why}";
        if (size.Length != stride.Length || offset < 0 || size.Any(d => d < 0) || stride.Any(d => d < 0))
            throw new InvalidDataException(Bad("is malformed"));
        long numel = TorchDtypes.CheckedByteCount(size, ScalarType.Byte, storageNumel);
        if (numel > 0)
        {
            long last = offset;
            for (int i = 0; i < size.Length; i++)
            {
                long reach = size[i] - 1;
                if (stride[i] != 0 && reach > (storageNumel - last) / stride[i]) throw new InvalidDataException(Bad($"reaches beyond its storage of {storageNumel} elements"));
                last += reach * stride[i];
            }
            if (last >= storageNumel) throw new InvalidDataException(Bad($"reaches beyond its storage of {storageNumel} elements"));
        }
        return storage.as_strided(size, stride, offset).contiguous();
    }

    static long[] Longs(object?[] items, string what, string path) =>
        items.Select(o => o as long? ?? throw new InvalidDataException($"'{path}': tensor {what} holds a {o?.GetType().Name ?? "None"}, not an integer")).ToArray();

    /// <summary>Moves every tensor of the (possibly shared or cyclic) object graph out of the load scope; iterative, so deep nesting cannot overflow the stack.</summary>
    static void MoveOut(object? root)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var todo = new Stack<object?>();
        todo.Push(root);
        while (todo.Count > 0)
        {
            var value = todo.Pop();
            if (value is null || value is string || value is long || value is double || value is bool || !seen.Add(value)) continue;
            switch (value)
            {
                case Tensor t: t.MoveToOuterDisposeScope(); break;
                case Dictionary<object, object?> d: foreach (var v in d.Values) todo.Push(v); break;
                case List<object?> l: foreach (var v in l) todo.Push(v); break;
                case object?[] a: foreach (var v in a) todo.Push(v); break;
                case PickleObject o:
                    todo.Push(o.State);
                    foreach (var v in o.Args) todo.Push(v);
                    foreach (var v in o.Items.Values) todo.Push(v);
                    foreach (var v in o.ListItems) todo.Push(v);
                    break;
            }
        }
    }
}
