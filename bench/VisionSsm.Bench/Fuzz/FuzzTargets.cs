using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using VisionSsm.Data;
using VisionSsm.Interop;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Bench.Fuzz;

/// <summary>
/// The readers of files from outside (pickle/.pth, safetensors, idx, CIFAR binary, our .ckpt, run-folder JSON,
/// images), each with valid seed files written by the library (and PyTorch's own files where given) and a
/// structure-aware mutator that edits the container's fields: sizes, shapes, dtypes, nesting, duplicate names.
/// </summary>
public static class FuzzTargets
{
    public static readonly string[] Names = ["pth", "safetensors", "idx", "cifar", "ckpt", "run-metrics", "run-config", "image"];

    /// <param name="seedDir">a scratch folder for writing the seeds.</param>
    /// <param name="torchFiles">extra .pt files written by PyTorch itself (optional seeds for the pth reader).</param>
    public static FuzzTarget Create(string name, string seedDir, IReadOnlyList<string>? torchFiles = null)
    {
        Directory.CreateDirectory(seedDir);
        static bool Invalid(Exception e) => e is InvalidDataException;
        return name switch
        {
            // A pickle opcode byte can build an object (a list, a tuple): ~150 bytes of .NET objects per (inflated) pickle byte is the data, not a declared size.
            "pth" => new FuzzTarget(name, "model.pth", PthSeeds(seedDir, torchFiles), MutatePth, ReadPth, Invalid, b => (1 << 20) + 256 * Math.Max(b.Length, Mutations.UnzippedLength(b))),
            "safetensors" => new FuzzTarget(name, "model.safetensors", SafetensorsSeeds(seedDir), MutateSafetensors,
                p => { foreach (var t in Safetensors.Load(p).Values) t.Dispose(); }, Invalid, b => (1 << 20) + 16 * b.Length),
            "idx" => new FuzzTarget(name, "train-images-idx3-ubyte", IdxSeeds(seedDir), MutateIdx, p => IdxFile.Read(p), Invalid,
                b => (1 << 20) + 4 * 1032 * b.Length),   // gzip: the reader allows deflate's 1032:1 expansion
            "cifar" => new FuzzTarget(name, "data_batch_1.bin", CifarSeeds(), MutateCifar, ReadCifar, Invalid, b => (1 << 20) + 16 * b.Length),
            "ckpt" => new FuzzTarget(name, "last.ckpt", [CkptSeed(seedDir)], MutateCkpt, p => Checkpoint.Load(p).Dispose(), Invalid, b => (1 << 20) + 16 * b.Length),
            "run-metrics" => new FuzzTarget(name, "metrics.jsonl", [MetricsSeed(seedDir)], (b, r) => Mutations.Utf8(Mutations.Json(Encoding.UTF8.GetString(b), r)),
                p => new RunFolder(Path.GetDirectoryName(p)!).ReadMetrics(), Invalid, b => (1 << 20) + 64 * b.Length),
            "run-config" => new FuzzTarget(name, "config.json", [Mutations.Utf8(new TrainConfig { Data = "/data/x", Mixup = 0.8 }.ToJson())],
                (b, r) => Mutations.Utf8(Mutations.Json(Encoding.UTF8.GetString(b), r)),
                p => new RunFolder(Path.GetDirectoryName(p)!).ReadConfig(), Invalid, b => (1 << 20) + 64 * b.Length),
            // The decoder bounds declared pixels by MaxPixelsPerByte × length (FreePixels at least); ≈ 20 bytes per pixel
            // (RGBA buffer, CHW floats) is what that bound lets it allocate.
            "image" => new FuzzTarget(name, "image.png", ImageSeeds(seedDir), MutateImage, p => ImageDecoder.Decode(p),
                e => e is ImageReadException, b => (1 << 20) + 20 * Math.Max(ImageDecoder.FreePixels, ImageDecoder.MaxPixelsPerByte * b.Length)),
            _ => throw new ArgumentException($"unknown reader '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    // ---- pickle / .pth ----------------------------------------------------------------------------------------------

    static IReadOnlyList<byte[]> PthSeeds(string dir, IReadOnlyList<string>? torchFiles)
    {
        string p = Path.Combine(dir, "seed.pth");
        using (var scope = NewDisposeScope())
            PyTorchCheckpoint.SaveStateDict(p, new Dictionary<string, Tensor>
            {
                ["conv.weight"] = arange(24, dtype: ScalarType.Float32).reshape(2, 3, 2, 2),
                ["bn.num_batches_tracked"] = tensor(7L),
                ["head.bias"] = tensor(new[] { 0.5, -1.0, 2.0 }),
                ["mask"] = tensor(new[] { true, false }),
            });
        var seeds = new List<byte[]> { File.ReadAllBytes(p) };
        foreach (var f in torchFiles ?? []) if (File.Exists(f)) seeds.Add(File.ReadAllBytes(f));
        return seeds;
    }

    static void ReadPth(string path) => DisposeAll(PyTorchCheckpoint.Load(path));

    static void DisposeAll(object? root)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var todo = new Stack<object?>([root]);
        while (todo.Count > 0)
            switch (todo.Pop())
            {
                case null: break;
                case var o when !seen.Add(o): break;
                case Tensor t: t.Dispose(); break;
                case Dictionary<object, object?> d: foreach (var v in d.Values) todo.Push(v); break;
                case List<object?> l: foreach (var v in l) todo.Push(v); break;
                case object?[] a: foreach (var v in a) todo.Push(v); break;
                case PickleObject o: todo.Push(o.State); foreach (var v in o.Args) todo.Push(v); break;
            }
    }

    /// <summary>Pickle programs that stress the interpreter: deep nesting, self reference, exponential sharing, huge lengths.</summary>
    static byte[] HostilePickle(Random r)
    {
        var b = new List<byte> { 0x80, 2 };
        int n = r.Next(4) == 0 ? 1 + r.Next(200_000) : 1 + r.Next(2_000);
        switch (r.Next(8))
        {
            case 0: // lists nested n deep
                b.AddRange(Enumerable.Repeat((byte)']', n)); b.AddRange(Enumerable.Repeat((byte)'a', n - 1)); break;
            case 1: // a list holding itself, a dict holding itself
                b.AddRange("]q\0h\0a}q\u0001K\u0001h\u0001s\u0086"u8.ToArray()); break;
            case 2: // ((x, x), (x, x)) … 2^k paths through k objects
                b.Add((byte)']'); for (int i = 0; i < Math.Min(n, 200); i++) { b.Add((byte)'2'); b.Add(0x86); } break;
            case 3: // MARKs n deep, then tuples
                b.AddRange(Enumerable.Repeat((byte)'(', n)); b.AddRange(Enumerable.Repeat((byte)'t', n)); break;
            case 4: // a declared length far beyond the data
            {
                byte[] ops = [(byte)'B', (byte)'X', (byte)'T', 0x8e, 0x8d, 0x96, 0x8b];
                byte op = ops[r.Next(ops.Length)];
                b.Add(op);
                int w = op is 0x8e or 0x8d or 0x96 ? 8 : 4;
                var v = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(v, Mutations.InterestingValue(r, 0));
                b.AddRange(v.Take(w));
                break;
            }
            case 5: // dict keyed by None / odd SETITEMS / stack underflow
                b.AddRange((r.Next(3) switch { 0 => "}N]s", 1 => "}(K\u0001u", _ => "s0a" }).Select(c => (byte)c)); break;
            case 6: // a storage persistent id with a wrong type or a huge numel
                b.AddRange("(X\u0007\0\0\0storagectorch\nFloatStorage\n"u8.ToArray());
                b.AddRange(r.Next(2) == 0 ? "K\u0001X\u0003\0\0\0cpuJ\u00ff\u00ff\u00ff\u007ftQ"u8.ToArray() : "X\u0001\0\0\00X\u0003\0\0\0cpuK\u0001tQ"u8.ToArray());
                break;
            default: // a random opcode soup
                for (int i = 0; i < n % 64 + 1; i++) b.Add((byte)"}])(NKJMXqh0124tlda es.Rbc\u0085\u0086\u0087\u0088\u0089\u008a\u0093\u0094"[r.Next(33)]);
                break;
        }
        b.Add((byte)'.');
        return [.. b];
    }

    static byte[] MutatePth(byte[] seed, Random r)
    {
        var entries = Mutations.Unzip(seed);
        switch (r.Next(5))
        {
            case 0: return Mutations.ZipLies(seed, r);
            case 1: // mutate data.pkl, keep the storages
            case 2:
            {
                int i = entries.FindIndex(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal));
                var pkl = r.Next(3) == 0 ? HostilePickle(r) : Mutations.Bytes(entries[i].Data, r, [entries[i].Data]);
                entries[i] = (entries[i].Name, pkl);
                break;
            }
            case 3: // storages of the wrong size
            {
                var idx = entries.FindAll(e => e.Name.Contains("/data/", StringComparison.Ordinal));
                if (idx.Count == 0) break;
                int i = entries.IndexOf(idx[r.Next(idx.Count)]);
                var d = entries[i].Data;
                entries[i] = (entries[i].Name, r.Next(2) == 0 ? d[..r.Next(d.Length + 1)] : [.. d, .. new byte[1 + r.Next(9)]]);
                break;
            }
            default: // duplicate or drop an entry
            {
                int i = r.Next(entries.Count);
                if (r.Next(2) == 0) entries.Insert(r.Next(entries.Count + 1), entries[i]); else entries.RemoveAt(i);
                break;
            }
        }
        return Mutations.Zip(entries, deflate: r.Next(4) == 0);
    }

    // ---- safetensors --------------------------------------------------------------------------------------------------

    static IReadOnlyList<byte[]> SafetensorsSeeds(string dir)
    {
        string p = Path.Combine(dir, "seed.safetensors");
        using var scope = NewDisposeScope();
        Safetensors.Save(p, new Dictionary<string, Tensor>
        {
            ["a.weight"] = arange(12, dtype: ScalarType.Float32).reshape(3, 4),
            ["b.bias"] = tensor(new[] { 1L, 2L }),
            ["c"] = tensor(new byte[] { 1, 2, 3 }),
        }, new Dictionary<string, string> { ["format"] = "pt" });
        return [File.ReadAllBytes(p)];
    }

    static byte[] MutateSafetensors(byte[] seed, Random r)
    {
        int len = (int)BinaryPrimitives.ReadUInt64LittleEndian(seed);
        string header = Encoding.UTF8.GetString(seed, 8, len);
        byte[] data = seed[(8 + len)..];
        if (r.Next(4) == 0)   // duplicate a tensor entry verbatim
        {
            int s = header.IndexOf("\"a.weight\"", StringComparison.Ordinal), e = header.IndexOf('}', s) + 1;
            header = header[..s] + header[s..e] + "," + header[s..];
        }
        else header = Mutations.Json(header, r);
        byte[] h = Mutations.Utf8(header);
        var lenBytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lenBytes, r.Next(6) == 0 ? (ulong)Mutations.InterestingValue(r, h.Length) : (ulong)h.Length);
        return [.. lenBytes, .. h, .. data];
    }

    // ---- idx ----------------------------------------------------------------------------------------------------------

    static IReadOnlyList<byte[]> IdxSeeds(string dir)
    {
        var pixels = Enumerable.Range(0, 3 * 5 * 4).Select(i => (byte)(i * 7)).ToArray();
        string raw = Path.Combine(dir, "seed-idx"), gz = Path.Combine(dir, "seed-idx.gz");
        IdxFile.Write(raw, [3, 5, 4], pixels, gzip: false);
        IdxFile.Write(gz, [3, 5, 4], pixels, gzip: true);
        return [File.ReadAllBytes(raw), File.ReadAllBytes(gz)];
    }

    static byte[] MutateIdx(byte[] seed, Random r)
    {
        bool gz = seed.Length > 1 && seed[0] == 0x1f && seed[1] == 0x8b;
        byte[] raw = gz ? Gunzip(seed) : (byte[])seed.Clone();
        switch (r.Next(4))
        {
            case 0: raw[3] = (byte)r.Next(7); break;                                        // dimension count
            case 1: raw[2] = (byte)(r.Next(2) == 0 ? 0x0d : r.Next(256)); break;             // element type
            default:                                                                         // a size
            {
                int d = r.Next(3);
                BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(4 + 4 * d), (int)Mutations.InterestingValue(r, raw.Length));
                break;
            }
        }
        if (r.Next(50) == 0)   // a small file that inflates to a lot: header + up to 4 MB of zeros
            raw = [.. raw.AsSpan(0, 16), .. new byte[r.Next(4 << 20)]];
        return gz || r.Next(4) == 0 ? Gzip(raw) : raw;
    }

    static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var g = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) g.Write(raw);
        return ms.ToArray();
    }

    static byte[] Gunzip(byte[] gz)
    {
        using var g = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        g.CopyTo(ms);
        return ms.ToArray();
    }

    // ---- CIFAR binary -------------------------------------------------------------------------------------------------

    static readonly string[] CifarClasses = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    static IReadOnlyList<byte[]> CifarSeeds()
    {
        var rec = new byte[3 * (1 + CifarBinaryDataset.PixelBytes)];
        for (int i = 0; i < rec.Length; i++) rec[i] = (byte)(i * 31);
        for (int k = 0; k < 3; k++) rec[k * (1 + CifarBinaryDataset.PixelBytes)] = (byte)(k * 4);
        return [rec];
    }

    static void ReadCifar(string path)
    {
        var ds = new CifarBinaryDataset([path], 1, 0, CifarClasses);
        for (int i = 0; i < ds.Count; i++) ds.Get(i);
    }

    static byte[] MutateCifar(byte[] seed, Random r)
    {
        var b = (byte[])seed.Clone();
        int rec = 1 + CifarBinaryDataset.PixelBytes;
        switch (r.Next(3))
        {
            case 0: b[rec * r.Next(b.Length / rec)] = (byte)(10 + r.Next(246)); return b;    // label out of range
            case 1: return b[..(b.Length - 1 - r.Next(rec))];                               // a partial record
            default: return [.. b, .. b.AsSpan(0, r.Next(2 * rec))];                         // extra bytes
        }
    }

    // ---- .ckpt ----------------------------------------------------------------------------------------------------------

    static byte[] CkptSeed(string dir)
    {
        string p = Path.Combine(dir, "seed.ckpt");
        using var scope = NewDisposeScope();
        var info = new CheckpointInfo
        {
            ModelName = "resnet18", Classes = ["a", "b"], Config = new TrainConfig { Model = "resnet18", Epochs = 2 },
            Preprocessing = new Preprocessing(1, 28, [0.5f], [0.25f]), Epoch = 1, StepInEpoch = 3, Step = 12, Seed = 42,
        };
        using var ckpt = new Checkpoint
        {
            Info = info,
            Model = new() { ["fc.weight"] = arange(6, dtype: ScalarType.Float32).reshape(2, 3), ["bn.num_batches_tracked"] = tensor(5L) },
            Ema = new() { ["fc.weight"] = zeros(2, 3) },
            Optimizer = [1, 2, 3, 4, 5, 6, 7, 8],
            TorchRngState = tensor(new byte[] { 9, 8, 7, 6 }),
        };
        ckpt.Save(p);
        return File.ReadAllBytes(p);
    }

    /// <summary>Edits the metadata JSON (re-encoding its length prefix) or an integer field at a tensor header.</summary>
    static byte[] MutateCkpt(byte[] seed, Random r)
    {
        using var ms = new MemoryStream(seed);
        using var rd = new BinaryReader(ms);
        rd.ReadBytes(12);
        long jsonStart = ms.Position;
        string json = rd.ReadString();
        long jsonEnd = ms.Position;
        if (r.Next(2) == 0)
        {
            var w = new MemoryStream();
            using (var bw = new BinaryWriter(w, Encoding.UTF8, leaveOpen: true))
            {
                bw.Write(seed.AsSpan(0, (int)jsonStart));
                bw.Write(Mutations.Json(json, r));
                bw.Write(seed.AsSpan((int)jsonEnd));
            }
            return w.ToArray();
        }
        // After the JSON: count, then per tensor name, dtype, rank, shape, length; hit the first few integer fields.
        var b = (byte[])seed.Clone();
        int p = (int)jsonEnd + 4 * r.Next(12);
        if (p + 8 <= b.Length) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(p), Mutations.InterestingValue(r, b.Length));
        return b;
    }

    // ---- run folder -----------------------------------------------------------------------------------------------------

    static byte[] MetricsSeed(string dir)
    {
        var run = new RunFolder(Path.Combine(dir, "run"));
        Directory.CreateDirectory(run.Path);
        run.WriteMetrics([
            new EpochMetrics(1, 100, 1e-3, 1.5, 40, 1.2, 55, 90, null, null, 12.5, 800, 1 << 28, 20),
            new EpochMetrics(2, 200, 5e-4, 1.1, 60, 0.9, 70, 95, 71, 96, 12.0, 820, 1 << 28, 21),
        ]);
        return File.ReadAllBytes(run.MetricsJsonlPath);
    }

    // ---- images ---------------------------------------------------------------------------------------------------------

    static IReadOnlyList<byte[]> ImageSeeds(string dir)
    {
        var seeds = new List<byte[]>();
        foreach (var (c, ext) in new[] { (3, ".png"), (1, ".png"), (3, ".jpg"), (1, ".jpg") })
        {
            int h = 12, w = 16;
            var px = new float[c * h * w];
            for (int i = 0; i < px.Length; i++) px[i] = (i * 37 % 101) / 100f;
            string p = Path.Combine(dir, $"seed{c}{ext}");
            ImageDecoder.Save(new ImageSample(px, c, h, w, 0), p);
            seeds.Add(File.ReadAllBytes(p));
        }
        seeds.Add(Bmp(5, 3));
        return seeds;
    }

    /// <summary>A 24-bit BMP (BITMAPINFOHEADER), rows bottom-up and padded to 4 bytes.</summary>
    static byte[] Bmp(int w, int h)
    {
        int row = (3 * w + 3) & ~3, size = 54 + row * h;
        var b = new byte[size];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), w);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), h);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(34), row * h);
        for (int i = 54; i < size; i++) b[i] = (byte)(i * 13);
        return b;
    }

    /// <summary>Declared sizes edited in the header (PNG IHDR with its CRC fixed, JPEG SOF, BMP), or a PNG chunk length that lies.</summary>
    static byte[] MutateImage(byte[] seed, Random r)
    {
        var b = (byte[])seed.Clone();
        int Dim() => r.Next(3) switch { 0 => r.Next(1, 70_000), 1 => (int)Mutations.InterestingValue(r, b.Length), _ => r.Next(1, 5000) };
        if (b.Length > 33 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G')
        {
            if (r.Next(4) == 0)   // a chunk length that lies
            {
                var chunks = new List<int>();
                for (int p = 8; p + 8 <= b.Length;) { chunks.Add(p); long len = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(p)); if (len > b.Length) break; p += 12 + (int)len; }
                BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(chunks[r.Next(chunks.Count)]), (uint)Mutations.InterestingValue(r, b.Length));
                return b;
            }
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), Dim());
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), Dim());
            if (r.Next(3) == 0) b[24] = (byte)(1 << r.Next(5));               // bit depth
            if (r.Next(3) == 0) b[25] = (byte)r.Next(7);                      // colour type
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), Crc32(b.AsSpan(12, 17)));
            return b;
        }
        if (b.Length > 4 && b[0] == 0xff && b[1] == 0xd8)
        {
            for (int p = 2; p + 9 < b.Length; p++)
                if (b[p] == 0xff && b[p + 1] is 0xc0 or 0xc1 or 0xc2)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(p + 5), (ushort)Dim());
                    BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(p + 7), (ushort)Dim());
                    return b;
                }
            return b;
        }
        if (b.Length >= 54 && b[0] == 'B' && b[1] == 'M')
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18 + 4 * r.Next(2)), r.Next(2) == 0 ? Dim() : -Dim());
            if (r.Next(3) == 0) BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), (short)(r.Next(2) == 0 ? 1 << r.Next(6) : r.Next(64)));
        }
        return b;
    }

    static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xffffffff;
        foreach (byte x in data)
        {
            c ^= x;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
