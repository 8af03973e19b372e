using TorchSharp.Modules;

namespace VisionSsm.Training;

/// <summary>
/// An optimiser's state (moments, step counts, group options) as bytes in TorchSharp's own format, for checkpoints.
/// TorchSharp's format starts with the optimiser's class name; <see cref="OwnedScalarAdamW"/> is stored under
/// <c>AdamW</c>, its state being AdamW's, so checkpoints load with either and older checkpoints still resume.
/// </summary>
public static class OptimizerState
{
    public static byte[] Save(OptimizerHelper optimizer)
    {
        using var native = new MemoryStream();
        using (var w = new BinaryWriter(native, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(w);
        native.Position = 0;
        using var r = new BinaryReader(native);
        r.ReadString();                                  // TorchSharp's own name for the type
        return WithName(PortableName(optimizer.GetType()), native);
    }

    public static void Load(OptimizerHelper optimizer, byte[] state)
    {
        using var stored = new MemoryStream(state);
        using var r = new BinaryReader(stored);
        string name = r.ReadString();
        string expected = PortableName(optimizer.GetType());
        if (name != expected)
            throw new InvalidDataException($"the checkpoint holds {name} optimizer state; this run uses {expected}.");
        using var native = new MemoryStream(WithName(optimizer.GetType().Name, stored));
        using var nr = new BinaryReader(native);
        optimizer.load_state_dict(nr);
    }

    static string PortableName(Type type) => type.IsSubclassOf(typeof(AdamW)) ? nameof(AdamW) : type.Name;

    /// <summary>The name as TorchSharp writes it (length-prefixed UTF-8), then the rest of <paramref name="body"/>.</summary>
    static byte[] WithName(string name, Stream body)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) w.Write(name);
        body.CopyTo(ms);
        return ms.ToArray();
    }
}
