using System.Buffers.Binary;
using VisionSsm.Data;

namespace VisionSsm.Tests.Data;

/// <summary>Regression tests for what the reader fuzzer found in image decoding: declared sizes are bounded before the
/// pixel buffer is allocated, and a lying chunk length fails cleanly (SkiaSharp's managed-stream callback used to throw
/// inside native code and end the process).</summary>
public class MalformedImageTests
{
    static byte[] Png(TempDir dir)
    {
        var px = new float[3 * 8 * 8];
        for (int i = 0; i < px.Length; i++) px[i] = i % 7 / 7f;
        string p = dir.File("a.png");
        ImageDecoder.Save(new ImageSample(px, 3, 8, 8, 0), p);
        return File.ReadAllBytes(p);
    }

    static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xffffffff;
        foreach (byte x in data) { c ^= x; for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320 ^ (c >> 1) : c >> 1; }
        return ~c;
    }

    /// <summary>The PNG with its IHDR width and height replaced (CRC recomputed, so only the size is wrong).</summary>
    static byte[] WithSize(byte[] png, int w, int h)
    {
        var b = (byte[])png.Clone();
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), w);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), h);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), Crc32(b.AsSpan(12, 17)));
        return b;
    }

    [Theory]
    [InlineData(60_000, 60_000, "exceeds the limit")]   // 3.6 G pixels: width × height × 4 overflowed int before
    [InlineData(4_000, 4_000, "implausible")]           // 16 M pixels declared by a ~200-byte file
    public void HugeDeclaredSizesAreRejectedBeforeAllocating(int w, int h, string expected)
    {
        using var dir = new TempDir();
        var bytes = WithSize(Png(dir), w, h);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ImageReadException>(() => ImageDecoder.Decode(bytes, "big.png"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("big.png", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void ASmallTruncatedImageWithinTheBoundStillFailsCleanly()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ImageReadException>(() => ImageDecoder.Decode(WithSize(Png(dir), 300, 200), "c.png"));
        Assert.Contains("c.png", e.Message);
    }

    [Theory]
    [InlineData(0x7fffffffu)]
    [InlineData(0xfffffff0u)]
    [InlineData(1_000_000u)]
    public void AChunkLengthThatLiesDecodesOrFailsCleanly(uint length)
    {
        using var dir = new TempDir();
        var b = Png(dir);
        int idat = 8;
        while (idat + 8 <= b.Length && !(b[idat + 4] == 'I' && b[idat + 5] == 'D' && b[idat + 6] == 'A' && b[idat + 7] == 'T'))
            idat += 12 + (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(idat));
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(idat), length);
        // libpng reads what is there: the image decodes (possibly partly) or fails with the documented error.
        try { Assert.Equal(8, ImageDecoder.Decode(b, "lie.png").Width); }
        catch (ImageReadException e) { Assert.Contains("lie.png", e.Message); }
    }
}
