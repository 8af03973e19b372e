using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using SkiaSharp;
using VisionSsm.Runtime;

namespace VisionSsm.Segmentation.Data;

/// <summary>
/// Label maps as PNG files. SkiaSharp expands palette PNGs to RGBA (it has no 8-bit indexed bitmap), so label PNGs are
/// read here directly: 8-bit grayscale (ADE20K) and palette PNGs of any bit depth (VOC) give their stored values, the
/// palette indices, exactly as PIL's <c>Image.open(...)</c> in mode "L" / "P" does for mmseg. Other PNGs (RGB, 16-bit,
/// interlaced) and other formats are decoded with SkiaSharp: gray images give their gray value, colour images are
/// mapped back to labels through the VOC palette (<see cref="SegmentationPalette"/>), and a colour outside it is an
/// error. Masks are written as 8-bit palette PNGs with the VOC palette, so the file stores the labels and shows colours.
/// </summary>
public static class LabelPng
{
    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>Writes <paramref name="labels"/> (H·W) as an 8-bit palette PNG, atomically.</summary>
    public static void Write(string path, ReadOnlySpan<byte> labels, int height, int width, IReadOnlyList<byte>? palette = null)
    {
        var bytes = Encode(labels, height, width, palette);
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }

    /// <summary>The PNG bytes of an 8-bit palette image (256 entries; the VOC palette unless given).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> labels, int height, int width, IReadOnlyList<byte>? palette = null)
    {
        if (height <= 0 || width <= 0) throw new ArgumentException($"mask size {height}×{width} must be positive.", nameof(height));
        if (labels.Length != height * width) throw new ArgumentException($"mask has {labels.Length} labels; expected {height}·{width}.", nameof(labels));
        palette ??= SegmentationPalette.Voc;
        if (palette.Count != 768) throw new ArgumentException($"palette has {palette.Count} bytes; expected 256 RGB triples (768).", nameof(palette));
        using var ms = new MemoryStream();
        ms.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 3; // bit depth 8, colour type 3 (indexed); compression, filter, interlace 0
        Chunk(ms, "IHDR", ihdr);
        Chunk(ms, "PLTE", palette.ToArray());
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            {
                var row = new byte[width + 1]; // filter byte 0 (None) + the row
                for (int y = 0; y < height; y++)
                {
                    labels.Slice(y * width, width).CopyTo(row.AsSpan(1));
                    z.Write(row);
                }
            }
            Chunk(ms, "IDAT", raw.ToArray());
        }
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    /// <summary>Reads a label map; errors name <paramref name="path"/>.</summary>
    public static (byte[] Labels, int Height, int Width) Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the mask file ({e.Message})", e);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes label-map bytes (see the class remarks); <paramref name="name"/> is used in errors.</summary>
    public static (byte[] Labels, int Height, int Width) Decode(byte[] bytes, string name) =>
        TryDecodeIndexed(bytes, name) ?? DecodeWithSkia(bytes, name);

    /// <summary>Direct decoding of non-interlaced 8-bit gray and palette PNGs (stored values); null for anything else.</summary>
    static (byte[], int, int)? TryDecodeIndexed(byte[] b, string name)
    {
        if (b.Length < 8 + 25 || !b.AsSpan(0, 8).SequenceEqual(Signature)) return null;
        int pos = 8, width = 0, height = 0, depth = 0, type = -1;
        using var idat = new MemoryStream();
        while (pos + 8 <= b.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(pos));
            string kind = System.Text.Encoding.ASCII.GetString(b, pos + 4, 4);
            if (len < 0 || pos + 12 + (long)len > b.Length) throw new InvalidDataException($"{name}: truncated PNG ({kind} chunk runs past the end).");
            var data = b.AsSpan(pos + 8, len);
            if (kind == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                depth = data[8]; type = data[9];
                bool indexed = type == 3 && depth is 1 or 2 or 4 or 8;
                bool gray8 = type == 0 && depth == 8;
                if (!(indexed || gray8) || data[12] != 0) return null;
                if (width <= 0 || height <= 0) throw new InvalidDataException($"{name}: invalid PNG size {width}×{height}.");
            }
            else if (kind == "IDAT") idat.Write(data);
            else if (kind == "IEND") break;
            pos += 12 + len;
        }
        if (type < 0) throw new InvalidDataException($"{name}: PNG without an IHDR chunk.");
        int rowBytes = (width * depth + 7) / 8;
        var raw = new byte[(long)(rowBytes + 1) * height];
        try
        {
            idat.Position = 0;
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            int got = 0;
            while (got < raw.Length)
            {
                int r = z.Read(raw, got, raw.Length - got);
                if (r == 0) break;
                got += r;
            }
            if (got < raw.Length) throw new InvalidDataException($"{name}: truncated PNG image data ({got} of {raw.Length} bytes).");
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(name))
        {
            throw new InvalidDataException($"{name}: corrupt PNG image data ({e.Message}).", e);
        }
        var labels = new byte[width * height];
        var prev = new byte[rowBytes];
        var cur = new byte[rowBytes];
        for (int y = 0; y < height; y++)
        {
            int off = y * (rowBytes + 1);
            Unfilter(raw[off], raw.AsSpan(off + 1, rowBytes), prev, cur, name);
            for (int x = 0; x < width; x++)
            {
                labels[y * width + x] = depth switch
                {
                    8 => cur[x],
                    4 => (byte)((cur[x >> 1] >> (4 - 4 * (x & 1))) & 0xF),
                    2 => (byte)((cur[x >> 2] >> (6 - 2 * (x & 3))) & 0x3),
                    _ => (byte)((cur[x >> 3] >> (7 - (x & 7))) & 0x1),
                };
            }
            (prev, cur) = (cur, prev);
        }
        return (labels, height, width);
    }

    // PNG filters (PNG spec §9.2) with one byte per pixel step, as for every bit depth ≤ 8 of a one-sample pixel.
    static void Unfilter(byte filter, ReadOnlySpan<byte> src, byte[] prev, byte[] cur, string name)
    {
        for (int i = 0; i < src.Length; i++)
        {
            int a = i > 0 ? cur[i - 1] : 0, up = prev[i], c = i > 0 ? prev[i - 1] : 0;
            int pred = filter switch
            {
                0 => 0,
                1 => a,
                2 => up,
                3 => (a + up) >> 1,
                4 => Paeth(a, up, c),
                _ => throw new InvalidDataException($"{name}: invalid PNG row filter {filter}."),
            };
            cur[i] = (byte)(src[i] + pred);
        }
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    static (byte[], int, int) DecodeWithSkia(byte[] bytes, string name)
    {
        using var codec = SKCodec.Create(new MemoryStream(bytes, writable: false), out var result);
        if (codec is null) throw new InvalidDataException($"{name}: not a decodable mask image ({result}).");
        var info = codec.Info;
        int w = info.Width, h = info.Height;
        var target = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var px = new byte[w * h * 4];
        var handle = GCHandle.Alloc(px, GCHandleType.Pinned);
        SKCodecResult r;
        try { r = codec.GetPixels(target, handle.AddrOfPinnedObject()); }
        finally { handle.Free(); }
        if (r != SKCodecResult.Success) throw new InvalidDataException($"{name}: mask decoding failed ({r}).");
        var labels = new byte[w * h];
        bool gray = true;
        for (int i = 0; i < w * h && gray; i++) gray = px[4 * i] == px[4 * i + 1] && px[4 * i] == px[4 * i + 2];
        for (int i = 0; i < w * h; i++)
        {
            if (gray) { labels[i] = px[4 * i]; continue; }
            int label = SegmentationPalette.LabelOf(px[4 * i], px[4 * i + 1], px[4 * i + 2]);
            if (label < 0)
                throw new InvalidDataException(
                    $"{name}: colour ({px[4 * i]}, {px[4 * i + 1]}, {px[4 * i + 2]}) at pixel ({i % w}, {i / w}) is not in the VOC palette; " +
                    "expected a palette or grayscale label PNG, or an RGB mask in VOC colours.");
            labels[i] = (byte)label;
        }
        return (labels, h, w);
    }

    static void Chunk(Stream s, string kind, byte[] data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        System.Text.Encoding.ASCII.GetBytes(kind, head[4..]);
        s.Write(head);
        s.Write(data);
        uint crc = Crc32(head[4..], 0xFFFFFFFFu);
        crc = Crc32(data, crc) ^ 0xFFFFFFFFu;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    static uint Crc32(ReadOnlySpan<byte> data, uint crc)
    {
        foreach (byte v in data) crc = CrcTable[(crc ^ v) & 0xFF] ^ (crc >> 8);
        return crc;
    }
}
