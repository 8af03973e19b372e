using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace VisionSsm.Bench.Fuzz;

/// <summary>Byte-level mutation operators and the container helpers the structure-aware mutators share.</summary>
public static class Mutations
{
    /// <summary>Values that break size arithmetic: zero, one, sign and width boundaries, huge.</summary>
    static readonly long[] Interesting =
    [
        0, 1, 2, 3, 7, 8, 16, 255, 256, 4096, 65535, 65536, 0x7fff, 0x8000, int.MaxValue, int.MinValue, uint.MaxValue,
        1L << 32, 1L << 40, long.MaxValue, long.MinValue, -1, -2, 1_000_000_000,
    ];

    public static long InterestingValue(Random r, int length) =>
        r.Next(8) == 0 ? length + r.Next(-2, 3) : Interesting[r.Next(Interesting.Length)];

    /// <summary>1–8 generic edits: bit flips, byte sets, inserts, deletes, truncation, interesting integers, chunk copies, splices.</summary>
    public static byte[] Bytes(byte[] seed, Random r, IReadOnlyList<byte[]> seeds)
    {
        var b = new List<byte>(seed);
        int edits = 1 + (r.Next(3) == 0 ? r.Next(8) : r.Next(2));
        for (int e = 0; e < edits; e++)
        {
            int n = b.Count;
            switch (r.Next(n == 0 ? 1 : 10))
            {
                case 0: // insert 1–16 random bytes
                    int at = r.Next(n + 1);
                    var ins = new byte[1 + r.Next(16)];
                    r.NextBytes(ins);
                    b.InsertRange(at, ins);
                    break;
                case 1: { int p = r.Next(n); b[p] ^= (byte)(1 << r.Next(8)); break; }                 // bit flip
                case 2: { int p = r.Next(n); b[p] = (byte)r.Next(256); break; }                        // random byte
                case 3: { int p = r.Next(n); b[p] = (byte)(b[p] + r.Next(-3, 4)); break; }            // small delta
                case 4: { int p = r.Next(n); b.RemoveRange(p, Math.Min(n - p, 1 + r.Next(64))); break; } // delete
                case 5: { int p = r.Next(n); b.RemoveRange(p, n - p); break; }                        // cut the tail
                case 6: case 7: // interesting integer of width 1/2/4/8, either byte order
                {
                    int width = 1 << r.Next(4);
                    int p = r.Next(n);
                    long v = InterestingValue(r, n);
                    Span<byte> tmp = stackalloc byte[8];
                    if (r.Next(2) == 0) BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
                    else { BinaryPrimitives.WriteInt64BigEndian(tmp, v << (64 - 8 * width)); }
                    for (int k = 0; k < width && p + k < b.Count; k++) b[p + k] = tmp[k];
                    break;
                }
                case 8: // duplicate a chunk elsewhere
                {
                    int p = r.Next(n), len = Math.Min(n - p, 1 + r.Next(256));
                    b.InsertRange(r.Next(b.Count + 1), b.GetRange(p, len));
                    break;
                }
                default: // splice: this file's prefix with another seed's suffix
                {
                    var other = seeds[r.Next(seeds.Count)];
                    int p = r.Next(n), q = other.Length == 0 ? 0 : r.Next(other.Length);
                    b.RemoveRange(p, n - p);
                    b.AddRange(other.AsSpan(q).ToArray());
                    break;
                }
            }
        }
        return Truncate(b, r);
    }

    /// <summary>Sometimes cuts the file at a random length (truncation is the commonest real corruption).</summary>
    static byte[] Truncate(List<byte> b, Random r)
    {
        if (b.Count > 0 && r.Next(8) == 0) return b.GetRange(0, r.Next(b.Count)).ToArray();
        return b.ToArray();
    }

    /// <summary>The entries of a zip (name → bytes), in order.</summary>
    public static List<(string Name, byte[] Data)> Unzip(byte[] zip)
    {
        using var a = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return a.Entries.Select(e =>
        {
            using var s = e.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            return (e.FullName, ms.ToArray());
        }).ToList();
    }

    /// <summary>The bytes a zip's entries actually inflate to (0 when it is not a readable zip).</summary>
    public static long UnzippedLength(byte[] zip)
    {
        long total = 0;
        try
        {
            using var a = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
            foreach (var e in a.Entries)
                try { using var s = e.Open(); total += s.CopyToCounting(); } catch (InvalidDataException) { }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException) { }
        return total;
    }

    static long CopyToCounting(this Stream s)
    {
        var buf = new byte[65536];
        long n = 0;
        for (int k; (k = s.Read(buf)) > 0;) n += k;
        return n;
    }

    public static byte[] Zip(IEnumerable<(string Name, byte[] Data)> entries, bool deflate)
    {
        var ms = new MemoryStream();
        using (var a = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in entries)
            {
                using var s = a.CreateEntry(name, deflate ? CompressionLevel.Fastest : CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        return ms.ToArray();
    }

    /// <summary>Overwrites size/offset fields of zip local and central headers with interesting values (entries that lie).</summary>
    public static byte[] ZipLies(byte[] zip, Random r)
    {
        var b = (byte[])zip.Clone();
        var spots = new List<int>();
        for (int i = 0; i + 46 <= b.Length; i++)
        {
            uint sig = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i));
            if (sig == 0x04034b50) { spots.Add(i + 18); spots.Add(i + 22); spots.Add(i + 26); spots.Add(i + 8); }          // local: sizes, name length, method
            else if (sig == 0x02014b50) { spots.Add(i + 20); spots.Add(i + 24); spots.Add(i + 42); spots.Add(i + 28); spots.Add(i + 10); } // central: sizes, offset, name length, method
            else if (sig == 0x06054b50) { spots.Add(i + 8); spots.Add(i + 10); spots.Add(i + 12); spots.Add(i + 16); }      // end: counts, cd size, cd offset
        }
        if (spots.Count == 0) return b;
        int edits = 1 + r.Next(3);
        for (int e = 0; e < edits; e++)
        {
            int p = spots[r.Next(spots.Count)];
            uint v = (uint)InterestingValue(r, b.Length);
            if (r.Next(3) == 0) v = (uint)(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)) + r.Next(-8, 9));
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p), v);
        }
        return b;
    }

    /// <summary>A JSON text with one semantic edit: a value replaced by a wrong type, a huge or negative number, deep nesting, a duplicated or removed member.</summary>
    public static string Json(string json, Random r)
    {
        // Work on the text: find a value start after ':' or '[' or ',' and replace the following token.
        var spots = new List<int>();
        for (int i = 0; i < json.Length; i++) if (json[i] is ':' or '[' or ',') spots.Add(i + 1);
        if (spots.Count == 0) return json;
        int p = spots[r.Next(spots.Count)];
        while (p < json.Length && json[p] == ' ') p++;
        int end = p;
        if (end < json.Length && json[end] == '"') { end++; while (end < json.Length && json[end] != '"') end++; end = Math.Min(end + 1, json.Length); }
        else while (end < json.Length && json[end] is not (',' or '}' or ']' or '\n')) end++;
        string[] replacements =
        [
            "null", "true", "\"x\"", "[]", "{}", "-1", "0", "1e308", "-1e308", "9223372036854775807", "9223372036854775808",
            "2147483648", "-9223372036854775808", "1.5", "NaN", "\"F32\"", "\"I64\"", "\"U8\"", "\"C64\"",
            "[1099511627776, 1099511627776]", "[-1]", "[4294967296]", "[0, 18446744073709551615]", "[9223372036854775807, 2]",
            new string('[', 200 + r.Next(2000)) + new string(']', 200 + r.Next(2000)), "\"\\ud800\"",
        ];
        string rep = replacements[r.Next(replacements.Length)];
        return r.Next(6) switch
        {
            0 => json[..p] + json[p..end] + ", " + json[p..], // duplicate a member (when p starts one) or break syntax
            1 => json[..p] + json[end..],                     // remove a value
            _ => json[..p] + rep + json[end..],
        };
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
