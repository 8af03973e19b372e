using System.IO.Compression;
using VisionSsm.Runtime;

namespace VisionSsm.Data;

/// <summary>
/// Reader for the idx format of the MNIST family (LeCun's layout): a big-endian magic
/// <c>0x00 0x00 type ndim</c>, <c>ndim</c> big-endian int32 sizes, then the row-major data. Only unsigned bytes
/// (type 0x08) occur in MNIST / Fashion-MNIST / KMNIST. Gzip is detected from the content (1f 8b), not the name.
/// </summary>
public static class IdxFile
{
    const byte UnsignedByteType = 0x08;

    /// <summary>Reads an idx file of unsigned bytes; returns its dimensions and data. Errors name the file.</summary>
    public static (int[] Dims, byte[] Data) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"idx file not found: {path}", path);
        byte[] raw = ReadAllMaybeGzip(path);
        if (raw.Length < 4)
            throw new InvalidDataException($"{path}: too short ({raw.Length} bytes) to be an idx file.");
        if (raw[0] != 0 || raw[1] != 0)
            throw new InvalidDataException(
                $"{path}: bad idx magic number 0x{raw[0]:x2}{raw[1]:x2}{raw[2]:x2}{raw[3]:x2}; expected 0x0000TTNN " +
                "(two zero bytes, a type byte, a dimension count).");
        if (raw[2] != UnsignedByteType)
            throw new InvalidDataException($"{path}: idx data type 0x{raw[2]:x2} is not supported; expected 0x08 (unsigned byte).");
        int ndim = raw[3];
        if (ndim is < 1 or > 4)
            throw new InvalidDataException($"{path}: idx dimension count {ndim} is not supported; expected 1 to 4.");
        int header = 4 + 4 * ndim;
        if (raw.Length < header)
            throw new InvalidDataException($"{path}: truncated idx header ({raw.Length} bytes; the header needs {header}).");
        var dims = new int[ndim];
        long count = 1;
        for (int d = 0; d < ndim; d++)
        {
            int o = 4 + 4 * d;
            dims[d] = (raw[o] << 24) | (raw[o + 1] << 16) | (raw[o + 2] << 8) | raw[o + 3];
            if (dims[d] < 0) throw new InvalidDataException($"{path}: negative idx size {dims[d]} in dimension {d}.");
            count = Math.Min(count * dims[d], long.MaxValue / int.MaxValue);   // saturate: no overflow; far beyond any file
        }
        if (raw.Length - header != count)
            throw new InvalidDataException(
                $"{path}: idx sizes [{string.Join(", ", dims)}] need {count} data bytes but the file holds {raw.Length - header}.");
        return (dims, raw.AsSpan(header).ToArray());
    }

    /// <summary>Writes unsigned bytes as an idx file (gzip when <paramref name="gzip"/>); used by tests and tools.</summary>
    public static void Write(string path, int[] dims, byte[] data, bool gzip)
    {
        long count = dims.Aggregate(1L, (a, d) => a * d);
        if (count != data.Length)
            throw new ArgumentException($"data has {data.Length} bytes; dims [{string.Join(", ", dims)}] need {count}.", nameof(data));
        AtomicFile.Write(path, file =>
        {
            // The gzip wrapper is disposed here (to write its trailer); the file stream belongs to AtomicFile.
            using var gz = gzip ? new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true) : null;
            Stream s = gz ?? (Stream)file;
            s.Write([0, 0, UnsignedByteType, (byte)dims.Length]);
            foreach (int d in dims) s.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
            s.Write(data);
        });
    }

    /// <summary>Deflate expands at most about 1032:1; more decompressed bytes than this per file byte is a corrupt (or hostile) stream.</summary>
    const long MaxInflateRatio = 1032;

    static byte[] ReadAllMaybeGzip(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        long limit = Math.Min(MaxInflateRatio * bytes.Length + 64, Array.MaxLength);
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            var buffer = new byte[81920];
            for (int n; (n = gz.Read(buffer)) > 0;)
            {
                if (ms.Length + n > limit)
                    throw new InvalidDataException($"{path}: the gzip stream expands beyond {limit} bytes, more than deflate allows for a {bytes.Length}-byte file.");
                ms.Write(buffer, 0, n);
            }
            return ms.ToArray();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: corrupt gzip stream ({e.Message}).", e);
        }
    }
}
