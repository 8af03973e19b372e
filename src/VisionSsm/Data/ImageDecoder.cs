using System.Runtime.InteropServices;
using VisionSsm.Runtime;
using SkiaSharp;

namespace VisionSsm.Data;

/// <summary>
/// Decodes JPEG/PNG/BMP/GIF/WebP files with SkiaSharp into <see cref="ImageSample"/>s (CHW floats in [0, 1]).
/// Grayscale files decode to 1 channel and everything else to RGB (alpha dropped, unpremultiplied), unless a channel
/// count is requested. Unreadable, truncated or non-image files throw <see cref="ImageReadException"/> naming the path.
/// </summary>
public static class ImageDecoder
{
    public static readonly IReadOnlyList<string> Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"];

    /// <summary>
    /// Largest image decoded, in pixels (PIL's decompression-bomb limit, <c>Image.MAX_IMAGE_PIXELS</c>): the pixel
    /// buffer is allocated from the declared size before the data is read, so the declared size is bounded.
    /// </summary>
    public const long MaxPixels = 89_478_485;

    /// <summary>
    /// Beyond <see cref="FreePixels"/>, at most this many declared pixels per encoded byte: far above what real
    /// JPEG/PNG/WebP files reach (a few to a few hundred), far below the size a corrupt header can declare.
    /// </summary>
    public const long MaxPixelsPerByte = 1024;

    /// <summary>Images up to this many pixels (512×512) are decoded whatever their file size.</summary>
    public const long FreePixels = 1 << 18;

    public static bool IsImageFile(string path) =>
        Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Decodes <paramref name="path"/>; <paramref name="channels"/> 0 keeps the file's (1 for gray, else 3), 1 or 3 converts.</summary>
    public static ImageSample Decode(string path, int label = 0, int channels = 0)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageReadException(path, $"cannot read the file ({e.Message})", e);
        }
        return Decode(bytes, path, label, channels);
    }

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> is used in error messages.</summary>
    public static ImageSample Decode(byte[] encoded, string name, int label = 0, int channels = 0)
    {
        if (channels is not (0 or 1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected 0 (keep), 1 or 3.");
        // Native memory, not a managed stream: SkiaSharp's managed-stream callback throws (and ends the process) when a
        // corrupt file makes the codec ask for an out-of-range read.
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(new SKMemoryStream(data), out var result);
        if (codec is null) throw new ImageReadException(name, $"not a decodable image ({result})");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0) throw new ImageReadException(name, $"invalid image size {info.Width}×{info.Height}");
        long declared = (long)info.Width * info.Height;
        if (declared > MaxPixels)
            throw new ImageReadException(name, $"image size {info.Width}×{info.Height} exceeds the limit of {MaxPixels} pixels");
        if (declared > Math.Max(FreePixels, MaxPixelsPerByte * encoded.Length))
            throw new ImageReadException(name, $"image size {info.Width}×{info.Height} is implausible for {encoded.Length} bytes of data (corrupt header?)");
        bool gray = info.ColorType == SKColorType.Gray8;
        int bpp = gray ? 1 : 4;
        var target = new SKImageInfo(info.Width, info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.Width * info.Height * bpp];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult r;
        try { r = codec.GetPixels(target, handle.AddrOfPinnedObject()); }
        finally { handle.Free(); }
        if (r != SKCodecResult.Success)
            throw new ImageReadException(name, r == SKCodecResult.IncompleteInput ? "truncated image data" : $"decoding failed ({r})");
        int hw = info.Width * info.Height;
        float[] chw;
        int c;
        if (gray)
        {
            c = 1;
            chw = new float[hw];
            for (int i = 0; i < hw; i++) chw[i] = pixels[i] / 255f;
        }
        else
        {
            c = 3;
            chw = new float[3 * hw];
            for (int i = 0; i < hw; i++)
            {
                chw[i] = pixels[4 * i] / 255f;
                chw[hw + i] = pixels[4 * i + 1] / 255f;
                chw[2 * hw + i] = pixels[4 * i + 2] / 255f;
            }
        }
        var sample = new ImageSample(chw, c, info.Height, info.Width, label);
        return channels == 0 ? sample : Transforms.ConvertChannels.Convert(sample, channels);
    }

    /// <summary>Encodes a sample (values clamped to [0, 1]) as PNG or JPEG; used by tests, benchmarks and tools.</summary>
    public static void Save(ImageSample s, string path, int jpegQuality = 90)
    {
        if (s.Channels is not (1 or 3)) throw new ArgumentException($"cannot save a {s.Channels}-channel image; expected 1 or 3.", nameof(s));
        bool gray = s.Channels == 1;
        var info = new SKImageInfo(s.Width, s.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(info);
        int hw = s.Width * s.Height;
        var buf = new byte[hw * (gray ? 1 : 4)];
        static byte B(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
        for (int i = 0; i < hw; i++)
        {
            if (gray) { buf[i] = B(s.Pixels[i]); continue; }
            buf[4 * i] = B(s.Pixels[i]); buf[4 * i + 1] = B(s.Pixels[hw + i]); buf[4 * i + 2] = B(s.Pixels[2 * hw + i]); buf[4 * i + 3] = 255;
        }
        Marshal.Copy(buf, 0, bmp.GetPixels(), buf.Length);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        var format = ext is ".jpg" or ".jpeg" ? SKEncodedImageFormat.Jpeg : ext == ".png" ? SKEncodedImageFormat.Png
            : throw new ArgumentException($"cannot save '{path}': expected a .png, .jpg or .jpeg file name.", nameof(path));
        using var encoded = bmp.Encode(format, jpegQuality);
        if (encoded is null) throw new IOException($"{path}: SkiaSharp could not encode a {s.Width}×{s.Height} {format} image.");
        AtomicFile.Write(path, encoded.SaveTo);
    }
}
