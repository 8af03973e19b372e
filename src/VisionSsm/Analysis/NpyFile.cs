using System.Text;
using VisionSsm.Runtime;

namespace VisionSsm.Analysis;

/// <summary>
/// Writes a NumPy <c>.npy</c> file (format version 1.0: magic, little-endian header length, a Python-literal header
/// padded to 64 bytes, then the raw values), so <c>numpy.load</c> reads the raw maps — the reference ERF scripts keep
/// their maps in this format too.
/// </summary>
public static class NpyFile
{
    /// <summary>
    /// Reads a float64 or float32 little-endian C-order <c>.npy</c> (as <see cref="Write"/> and <c>numpy.save</c> write
    /// them) into doubles and its shape.
    /// </summary>
    public static (double[] Values, int[] Shape) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"'{path}' is not a .npy file.");
        int major = bytes[6];
        int headerStart = major == 1 ? 10 : 12;
        int headerLength = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
        string header = Encoding.ASCII.GetString(bytes, headerStart, headerLength);
        bool f8 = header.Contains("'<f8'"), f4 = header.Contains("'<f4'");
        if (!(f8 || f4) || header.Contains("'fortran_order': True"))
            throw new InvalidDataException($"'{path}': expected a little-endian float32/float64 C-order array; header {header.Trim()}.");
        int open = header.IndexOf('(', header.IndexOf("'shape'", StringComparison.Ordinal)), close = header.IndexOf(')', open);
        var shape = header[(open + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int size = f8 ? 8 : 4, offset = headerStart + headerLength;
        if (bytes.Length - offset != count * size) throw new InvalidDataException($"'{path}': {bytes.Length - offset} data bytes for shape ({string.Join(", ", shape)}).");
        var values = new double[count];
        for (long i = 0; i < count; i++)
            values[i] = f8 ? BitConverter.ToDouble(bytes, (int)(offset + i * 8)) : BitConverter.ToSingle(bytes, (int)(offset + i * 4));
        return (values, shape);
    }

    /// <summary>Writes <paramref name="values"/> (row-major) as a float64 array of <paramref name="shape"/>.</summary>
    public static void Write(string path, IReadOnlyList<double> values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (shape.Length == 0 || shape.Any(d => d < 0) || count != values.Count)
            throw new ArgumentException($"{values.Count} values do not fill the shape ({string.Join(", ", shape)}).", nameof(shape));
        string dims = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        string header = $"{{'descr': '<f8', 'fortran_order': False, 'shape': {dims}, }}";
        int unpadded = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - unpadded % 64) % 64) + "\n";
        AtomicFile.Write(path, fs =>
        {
            using var w = new BinaryWriter(fs, Encoding.ASCII, leaveOpen: true);
            w.Write((byte)0x93);
            w.Write("NUMPY"u8);
            w.Write((byte)1);
            w.Write((byte)0);
            w.Write((ushort)header.Length);   // BinaryWriter is little-endian
            w.Write(Encoding.ASCII.GetBytes(header));
            foreach (double v in values) w.Write(v);
        });
    }
}
