namespace VisionSsm.Segmentation.Data;

/// <summary>
/// The Pascal VOC colour map, used for every mask this library writes: colour of label <c>i</c> from the bits of i,
/// bit 3−k of each channel taking bits (0, 1, 2) of i >> 3k for (R, G, B) (VOC devkit <c>labelcolormap</c>). Label 0
/// is black, 1 is (128, 0, 0), 255 (ignore) is (224, 224, 192), VOC's border colour.
/// </summary>
public static class SegmentationPalette
{
    /// <summary>256 RGB triples, flattened (768 bytes).</summary>
    public static readonly IReadOnlyList<byte> Voc = Build();

    /// <summary>The colour of <paramref name="label"/>.</summary>
    public static (byte R, byte G, byte B) Color(byte label) => (Voc[3 * label], Voc[3 * label + 1], Voc[3 * label + 2]);

    /// <summary>The label whose VOC colour is (r, g, b), or −1 when no label has that colour.</summary>
    public static int LabelOf(byte r, byte g, byte b) =>
        Lookup.TryGetValue((r << 16) | (g << 8) | b, out int label) ? label : -1;

    static readonly Dictionary<int, int> Lookup = BuildLookup();

    static byte[] Build()
    {
        var map = new byte[768];
        for (int i = 0; i < 256; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (int k = 0; k < 8; k++)
            {
                r |= ((c >> 0) & 1) << (7 - k);
                g |= ((c >> 1) & 1) << (7 - k);
                b |= ((c >> 2) & 1) << (7 - k);
                c >>= 3;
            }
            map[3 * i] = (byte)r; map[3 * i + 1] = (byte)g; map[3 * i + 2] = (byte)b;
        }
        return map;
    }

    static Dictionary<int, int> BuildLookup()
    {
        var d = new Dictionary<int, int>();
        for (int i = 0; i < 256; i++) d.TryAdd((Voc[3 * i] << 16) | (Voc[3 * i + 1] << 8) | Voc[3 * i + 2], i);
        return d;
    }
}
