using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VisionSsm.Interop;
using VisionSsm.Tests.Data;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Interop;

/// <summary>Regression tests for what the reader fuzzer found: malformed pickles, .pth zips and safetensors files fail
/// with <see cref="InvalidDataException"/> (naming the file where there is one), before allocating a declared size.</summary>
public class MalformedInteropFileTests
{
    static object? Unpickle(byte[] pickle) =>
        new PickleReader(new MemoryStream(pickle), (g, a) => new PickleObject(g, a), pid => pid).Load();

    static byte[] P(string ops) => [0x80, 2, .. Encoding.Latin1.GetBytes(ops), (byte)'.'];

    [Theory]
    [InlineData("0", "underflow")]                 // POP on an empty stack
    [InlineData("(K\u00010", "underflow")]          // STOP with only a MARK left (values below a MARK cannot be popped)
    [InlineData("h\u0005", "memo")]                 // BINGET of a never-stored memo entry
    [InlineData("}N]s", "None")]                    // a dict keyed by None
    [InlineData("}(K\u0001u", "odd")]               // SETITEMS with a key and no value
    [InlineData("t", "MARK")]                       // TUPLE without a MARK
    [InlineData("\u008a\u0009\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001", "64 bits")] // LONG1 of 9 bytes
    public void MalformedPicklesThrowInvalidData(string ops, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => Unpickle(P(ops)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ATruncatedPickleThrowsInvalidData() =>
        Assert.Contains("ends early", Assert.Throws<InvalidDataException>(() => Unpickle([0x80, 2, (byte)'c', (byte)'m', (byte)'\n'])).Message);

    [Theory]
    [InlineData((byte)'B', 4)]   // BINBYTES, int32 length
    [InlineData((byte)'X', 4)]   // BINUNICODE
    [InlineData(0x8e, 8)]        // BINBYTES8
    [InlineData(0x8d, 8)]        // BINUNICODE8
    public void ADeclaredLengthBeyondTheDataIsRejectedBeforeAllocating(byte op, int width)
    {
        var len = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(len, width == 4 ? int.MaxValue : long.MaxValue);
        byte[] pickle = [0x80, 2, op, .. len.AsSpan(0, width), (byte)'.'];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => Unpickle(pickle));
        Assert.Contains("declared length", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void NestingBeyondTheLimitIsRejected()
    {
        int n = PickleReader.MaxDepth + 5;
        var e = Assert.Throws<InvalidDataException>(() => Unpickle(P(new string(']', n) + new string('a', n - 1))));
        Assert.Contains("nested deeper", e.Message);
        Assert.IsType<List<object?>>(Unpickle(P(new string(']', 500) + new string('a', 499))));   // deep but plausible
    }

    /// <summary>A .pth zip holding <paramref name="pickle"/> as data.pkl and <paramref name="storages"/> as data/0, data/1, ….</summary>
    static string Pth(TempDir dir, byte[] pickle, params byte[][] storages)
    {
        string path = dir.File("model.pth");
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] data) { using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open(); s.Write(data); }
        Add("archive/data.pkl", pickle);
        for (int i = 0; i < storages.Length; i++) Add($"archive/data/{i}", storages[i]);
        return path;
    }

    static byte[] X(string s) { var b = Encoding.UTF8.GetBytes(s); return [(byte)'X', .. BitConverter.GetBytes(b.Length), .. b]; }
    static byte[] J(int v) => [(byte)'J', .. BitConverter.GetBytes(v)];

    /// <summary>_rebuild_tensor_v2(storage 0 (FloatStorage), offset, size, stride, False, None).</summary>
    static byte[] RebuildPickle(int offset, int[] size, int[] stride) =>
    [
        0x80, 2, .. "ctorch._utils\n_rebuild_tensor_v2\n("u8, (byte)'(', .. X("storage"), .. "ctorch\nFloatStorage\n"u8, .. X("0"), .. X("cpu"), .. J(2), (byte)'t', (byte)'Q',
        .. J(offset), (byte)'(', .. size.SelectMany(J), (byte)'t', (byte)'(', .. stride.SelectMany(J), (byte)'t', 0x89, (byte)'N', (byte)'t', (byte)'R', (byte)'.',
    ];

    [Theory]
    [InlineData(0, new[] { 1_000_000_000 }, new[] { 0 })]   // a stride-0 view: contiguous() would allocate 4 GB
    [InlineData(5, new[] { 2 }, new[] { 1 })]               // offset beyond the 2-element storage
    [InlineData(0, new[] { 3 }, new[] { 1 })]               // one element too many
    [InlineData(0, new[] { -1 }, new[] { 1 })]              // negative size
    public void TensorViewsOutsideTheirStorageAreRejected(int offset, int[] size, int[] stride)
    {
        using var dir = new TempDir();
        string path = Pth(dir, RebuildPickle(offset, size, stride), new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => PyTorchCheckpoint.Load(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AValidHandWrittenViewLoads()
    {
        using var dir = new TempDir();
        var floats = new byte[8];
        BitConverter.TryWriteBytes(floats.AsSpan(4), 2.5f);
        var t = Assert.IsType<Tensor>(PyTorchCheckpoint.Load(Pth(dir, RebuildPickle(1, [1], [1]), floats)));
        Assert.Equal(2.5f, t.item<float>());
    }

    [Fact]
    public void AListHoldingItselfAndExponentialSharingLoad()
    {
        using var dir = new TempDir();
        var self = Assert.IsType<List<object?>>(PyTorchCheckpoint.Load(Pth(dir, P("]q\u0000h\u0000a"))));
        Assert.Same(self, self[0]);
        // ((x, x), (x, x)) 100 levels deep: 2^100 paths through 101 objects; visited once each.
        Assert.IsType<object?[]>(PyTorchCheckpoint.Load(Pth(dir, P("]" + string.Concat(Enumerable.Repeat("2\u0086", 100))))));
    }

    [Fact]
    public void AZipEntryDeclaringMoreThanDeflateAllowsIsRejected()
    {
        using var dir = new TempDir();
        string path = Pth(dir, P("N"));
        var b = File.ReadAllBytes(path);
        for (int i = 0; i + 46 <= b.Length; i++)   // the central directory's uncompressed size of data.pkl
            if (BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i)) == 0x02014b50) { BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i + 24), int.MaxValue); break; }
        File.WriteAllBytes(path, b);
        var e = Assert.Throws<InvalidDataException>(() => PyTorchCheckpoint.Load(path));
        Assert.Contains(path, e.Message);
    }

    static string Safetensors(TempDir dir, string header, int dataBytes)
    {
        string path = dir.File("x.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. new byte[dataBytes]]);
        return path;
    }

    [Theory]
    [InlineData("""{"x":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}""", "needs more")]
    [InlineData("""{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "negative")]
    [InlineData("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", "data_offsets")]
    [InlineData("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "twice")]
    [InlineData("""[1]""", "not a JSON object")]
    [InlineData("""{"x":{"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"x":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}""", "integer")]
    [InlineData("""{"x":""", "not a valid safetensors")]
    public void MalformedSafetensorsHeadersThrowInvalidDataNamingTheFile(string header, string expected)
    {
        using var dir = new TempDir();
        string path = Safetensors(dir, header, 4);
        var e = Assert.Throws<InvalidDataException>(() => VisionSsm.Interop.Safetensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
