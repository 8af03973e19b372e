using System.Text;
using static TorchSharp.torch;

namespace VisionSsm.Interop;

/// <summary>
/// Writes the one pickle VisionSsm needs to emit: a state_dict as <c>torch.save</c> lays it out (protocol 2),
/// an OrderedDict whose values are <c>torch._utils._rebuild_tensor_v2(persistent storage i, 0, size, stride, False, OrderedDict())</c>.
/// </summary>
static class PickleWriter
{
    public static byte[] StateDict(IReadOnlyList<KeyValuePair<string, Tensor>> entries)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write((byte)0x80); w.Write((byte)2);                          // PROTO 2
        OrderedDict(w, entries);
        w.Write((byte)'.');
        return ms.ToArray();
    }

    /// <summary>Writes the OrderedDict of tensors (storage keys 0, 1, …) without PROTO/STOP, to embed in a larger pickle.</summary>
    internal static void OrderedDict(BinaryWriter w, IReadOnlyList<KeyValuePair<string, Tensor>> entries)
    {
        Global(w, "collections", "OrderedDict");
        w.Write((byte)')'); w.Write((byte)'R');                          // OrderedDict()
        for (int i = 0; i < entries.Count; i++)
        {
            var (name, t) = (entries[i].Key, entries[i].Value);
            Unicode(w, name);
            Global(w, "torch._utils", "_rebuild_tensor_v2");
            w.Write((byte)'(');                                          // MARK: args tuple
            w.Write((byte)'(');                                          // MARK: persistent id tuple
            Unicode(w, "storage");
            Global(w, "torch", TorchDtypes.StorageName(t.dtype));
            Unicode(w, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Unicode(w, "cpu");
            Int(w, t.numel());
            w.Write((byte)'t'); w.Write((byte)'Q');                      // TUPLE, BINPERSID
            Int(w, 0);                                                   // storage offset
            IntTuple(w, t.shape);
            IntTuple(w, ContiguousStrides(t.shape));
            w.Write((byte)0x89);                                         // requires_grad False
            Global(w, "collections", "OrderedDict");
            w.Write((byte)')'); w.Write((byte)'R');                      // backward_hooks
            w.Write((byte)'t'); w.Write((byte)'R');                      // TUPLE, REDUCE
            w.Write((byte)'s');                                          // SETITEM
        }
    }

    static long[] ContiguousStrides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    internal static void Global(BinaryWriter w, string module, string name)
    {
        w.Write((byte)'c');
        w.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
    }

    internal static void Unicode(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((byte)'X'); w.Write(b.Length); w.Write(b);
    }

    internal static void Int(BinaryWriter w, long v)
    {
        if (v is >= 0 and < 256) { w.Write((byte)'K'); w.Write((byte)v); }
        else if (v is >= int.MinValue and <= int.MaxValue) { w.Write((byte)'J'); w.Write((int)v); }
        else { w.Write((byte)0x8a); w.Write((byte)8); w.Write(v); }
    }

    static void IntTuple(BinaryWriter w, long[] values)
    {
        w.Write((byte)'(');
        foreach (var v in values) Int(w, v);
        w.Write((byte)'t');
    }
}
