using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VisionSsm.Interop;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Interop;

/// <summary>
/// Writes a file laid out as the official repos' training checkpoints are (<c>torch.save({"model": state_dict,
/// "config": CfgNode, "args": Namespace, "epoch": …, "max_accuracy": numpy.float64, …})</c>, pickle protocol 2, zip
/// format), with objects of classes a reader cannot know: a yacs <c>CfgNode</c> (a dict subclass: NEWOBJ, SETITEMS,
/// BUILD), an <c>argparse.Namespace</c> (NEWOBJ, BUILD), a numpy scalar (REDUCE of a REDUCEd dtype), a list subclass
/// (APPENDS) and a call of a non-global (REDUCE on an object). PyTorch is not installed here, so the bytes are built
/// opcode by opcode following <c>pickle.py</c>'s <c>save_reduce</c>.
/// </summary>
static class OfficialCheckpointFile
{
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var entries = stateDict.ToList();
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write((byte)0x80); w.Write((byte)2);                                 // PROTO 2
            w.Write((byte)'}');                                                    // EMPTY_DICT
            w.Write((byte)'(');                                                    // MARK
            PickleWriter.Unicode(w, "model");
            PickleWriter.OrderedDict(w, entries);
            PickleWriter.Unicode(w, "config");
            CfgNode(w, depth: 0);
            PickleWriter.Unicode(w, "args");
            PickleWriter.Global(w, "argparse", "Namespace");
            w.Write((byte)')'); w.Write((byte)0x81);                               // EMPTY_TUPLE, NEWOBJ
            w.Write((byte)'}'); w.Write((byte)'(');
            PickleWriter.Unicode(w, "lr"); Float(w, 5e-4);
            PickleWriter.Unicode(w, "model"); PickleWriter.Unicode(w, "vim_tiny_patch16_224_bimambav2_final_pool_mean_abs_pos_embed_with_midclstok_div2");
            PickleWriter.Unicode(w, "data_set"); PickleWriter.Unicode(w, "IMNET");
            w.Write((byte)'u'); w.Write((byte)'b');                                // SETITEMS, BUILD
            PickleWriter.Unicode(w, "epoch"); PickleWriter.Int(w, 299);
            PickleWriter.Unicode(w, "max_accuracy"); NumpyFloat64(w, 82.6);
            PickleWriter.Unicode(w, "history");                                    // a list subclass
            PickleWriter.Global(w, "utils", "History");
            w.Write((byte)')'); w.Write((byte)0x81);
            w.Write((byte)'('); Float(w, 1.5); Float(w, 0.25); w.Write((byte)'e'); // MARK … APPENDS
            PickleWriter.Unicode(w, "scaler");                                     // REDUCE of an object, not a global
            PickleWriter.Global(w, "functools", "partial");
            w.Write((byte)')'); w.Write((byte)'R');
            w.Write((byte)')'); w.Write((byte)'R');
            PickleWriter.Unicode(w, "frozen");
            w.Write((byte)'('); PickleWriter.Int(w, 1); PickleWriter.Int(w, 2); w.Write((byte)0x91);   // FROZENSET
            w.Write((byte)'u');                                                    // SETITEMS
            w.Write((byte)'.');                                                    // STOP
        }
        const string archive = "archive";
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        Entry(zip, $"{archive}/data.pkl", ms.ToArray());
        Entry(zip, $"{archive}/byteorder", Encoding.ASCII.GetBytes("little"));
        for (int i = 0; i < entries.Count; i++) Entry(zip, $"{archive}/data/{i}", TorchDtypes.ToBytes(entries[i].Value));
        Entry(zip, $"{archive}/version", Encoding.ASCII.GetBytes("3\n"));
    }

    /// <summary>yacs CfgNode: copyreg.__newobj__ → NEWOBJ(cls, (dict,)), items by SETITEMS, then BUILD with __dict__.</summary>
    static void CfgNode(BinaryWriter w, int depth)
    {
        PickleWriter.Global(w, "yacs.config", "CfgNode");
        w.Write((byte)'}'); w.Write((byte)0x85); w.Write((byte)0x81);             // ({},) NEWOBJ
        w.Write((byte)'(');
        PickleWriter.Unicode(w, "NAME"); PickleWriter.Unicode(w, "vssm1_tiny_0230s");
        PickleWriter.Unicode(w, "DROP_PATH_RATE"); Float(w, 0.2);
        if (depth == 0)
        {
            PickleWriter.Unicode(w, "MODEL");
            CfgNode(w, depth + 1);
        }
        w.Write((byte)'u');                                                        // SETITEMS on the object
        w.Write((byte)'}'); w.Write((byte)'(');
        PickleWriter.Unicode(w, "__immutable__"); w.Write((byte)0x88);
        PickleWriter.Unicode(w, "__new_allowed__"); w.Write((byte)0x89);
        w.Write((byte)'u'); w.Write((byte)'b');                                    // SETITEMS, BUILD
    }

    /// <summary>numpy.float64 as numpy pickles it: scalar(dtype('f8', False, True) + BUILD state, raw bytes).</summary>
    static void NumpyFloat64(BinaryWriter w, double value)
    {
        PickleWriter.Global(w, "numpy.core.multiarray", "scalar");
        PickleWriter.Global(w, "numpy", "dtype");
        PickleWriter.Unicode(w, "f8"); w.Write((byte)0x89); w.Write((byte)0x88); w.Write((byte)0x87); w.Write((byte)'R');
        w.Write((byte)'(');
        PickleWriter.Int(w, 3); PickleWriter.Unicode(w, "<"); w.Write((byte)'N'); w.Write((byte)'N'); w.Write((byte)'N');
        PickleWriter.Int(w, -1); PickleWriter.Int(w, -1); PickleWriter.Int(w, 0);
        w.Write((byte)'t'); w.Write((byte)'b');                                    // TUPLE, BUILD
        var bytes = BitConverter.GetBytes(value);
        w.Write((byte)'C'); w.Write((byte)bytes.Length); w.Write(bytes);          // SHORT_BINBYTES
        w.Write((byte)0x86); w.Write((byte)'R');                                   // TUPLE2, REDUCE
    }

    static void Float(BinaryWriter w, double v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, v);
        w.Write((byte)'G'); w.Write(b);
    }

    static void Entry(ZipArchive zip, string name, byte[] data)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        s.Write(data);
    }
}
