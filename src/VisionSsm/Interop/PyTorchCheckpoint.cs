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
    /// <summary>Loads the whole pickled object (a dict for checkpoints; tensors as <see cref="Tensor"/>).</summary>
    public static object? Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
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
                if (pid is not object?[] { Length: >= 5 } t || t[0] as string != "storage" || t[1] is not PickleGlobal cls)
                    throw new InvalidDataException($"'{path}': unsupported persistent id");
                string key = (string)t[2]!;
                if (storages.TryGetValue(key, out var s)) return s;
                var (type, size) = TorchDtypes.FromStorage(cls.Name);
                var entry = zip.GetEntry(prefix + "data/" + key) ?? throw new InvalidDataException($"'{path}': storage {key} is missing");
                using var ms = new MemoryStream();
                using (var es = entry.Open()) es.CopyTo(ms);
                long numel = ms.Length / size;
                return storages[key] = TorchDtypes.FromBytes(ms.GetBuffer().AsSpan(0, (int)ms.Length), type, [numel]);
            }

            // Only these globals are interpreted; every other one (config classes, numpy, argparse, …) becomes an inert
            // PickleObject, so a training file's extra entries load without running anything.
            object? Call(PickleGlobal g, object?[] args) => g.FullName switch
            {
                "collections.OrderedDict" => new Dictionary<object, object?>(),
                "torch._utils._rebuild_tensor_v2" => RebuildTensor(args),
                "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state" => args[0],
                // Tensor subclasses: _rebuild_from_type_v2(func, type, func_args, state) → func(*func_args).
                "torch._tensor._rebuild_from_type_v2" when args is [PickleGlobal f, _, object?[] fargs, ..] => Call(f, fargs),
                _ => new PickleObject(g, args),
            };

            using var stream = pkl.Open();
            var result = new PickleReader(stream, Call, PersistentLoad).Load();
            MoveOut(result);
            return result;
        }
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

    static Tensor RebuildTensor(object?[] args)
    {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        var storage = (Tensor)args[0]!;
        long offset = (long)args[1]!;
        long[] size = ((object?[])args[2]!).Select(o => (long)o!).ToArray();
        long[] stride = ((object?[])args[3]!).Select(o => (long)o!).ToArray();
        return storage.as_strided(size, stride, offset).contiguous();
    }

    static void MoveOut(object? value)
    {
        switch (value)
        {
            case Tensor t: t.MoveToOuterDisposeScope(); break;
            case Dictionary<object, object?> d: foreach (var v in d.Values) MoveOut(v); break;
            case List<object?> l: foreach (var v in l) MoveOut(v); break;
            case object?[] a: foreach (var v in a) MoveOut(v); break;
            case PickleObject o:
                MoveOut(o.State);
                foreach (var v in o.Args) MoveOut(v);
                foreach (var v in o.Items.Values) MoveOut(v);
                foreach (var v in o.ListItems) MoveOut(v);
                break;
        }
    }
}
