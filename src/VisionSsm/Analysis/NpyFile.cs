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
