using VisionSsm.Data;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Helpers of the soak scripts (scripts/soak-*.sh):
/// <c>soak check CKPT [--same OTHER]</c> loads a checkpoint with the library's loader (exit 1 when unreadable) and,
/// with <c>--same</c>, compares its position, model, EMA, optimiser and RNG state bitwise with another one;
/// <c>soak subset --from DIR --to DIR --train N --test M</c> writes the first N/M images of an idx data set.
/// </summary>
public static class SoakTools
{
    public static void RegisterSuite() =>
        Suites.Register("soak", "soak-script helpers: 'check CKPT [--same OTHER]' (load/compare a checkpoint), 'subset' (small idx data set)", Run);

    static int Run(string[] args)
    {
        if (args.Length >= 2 && args[0] == "check") return Check(args[1], Measure.StringOption(args, "--same", ""));
        if (args.Length >= 1 && args[0] == "subset")
        {
            Subset(Measure.StringOption(args, "--from", FashionMnist.DefaultDirectory), Measure.StringOption(args, "--to", "soak-data"),
                Measure.IntOption(args, "--train", 1024), Measure.IntOption(args, "--test", 256));
            return 0;
        }
        Console.Error.WriteLine("usage: soak check CKPT [--same OTHER] | soak subset --from DIR --to DIR [--train N] [--test M]");
        return 2;
    }

    static int Check(string path, string other)
    {
        try
        {
            using var a = Checkpoint.Load(path);
            Console.WriteLine($"ok: {path}: epoch {a.Info.Epoch}, batch {a.Info.StepInEpoch}, step {a.Info.Step}, {a.Model.Count} tensors");
            if (other.Length == 0) return 0;
            using var b = Checkpoint.Load(other);
            var diffs = new List<string>();
            if ((a.Info.Epoch, a.Info.StepInEpoch, a.Info.Step) != (b.Info.Epoch, b.Info.StepInEpoch, b.Info.Step)) diffs.Add("position");
            if (a.Info.EpochLossSum != b.Info.EpochLossSum || a.Info.BestTop1 != b.Info.BestTop1) diffs.Add("statistics");
            diffs.AddRange(DiffState("model", a.Model, b.Model));
            if (a.Ema is not null && b.Ema is not null) diffs.AddRange(DiffState("ema", a.Ema, b.Ema));
            if (!(a.Optimizer ?? []).AsSpan().SequenceEqual(b.Optimizer ?? [])) diffs.Add("optimizer state");
            if (a.TorchRngState is not null && b.TorchRngState is not null && !Same(a.TorchRngState, b.TorchRngState)) diffs.Add("torch RNG state");
            Console.WriteLine(diffs.Count == 0 ? $"identical to {other} (position, model, EMA, optimiser, RNG: bitwise)" : $"DIFFERENT from {other}: {string.Join(", ", diffs.Take(10))}");
            return diffs.Count == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            Console.WriteLine($"UNREADABLE: {e.Message}");
            return 1;
        }
    }

    static IEnumerable<string> DiffState(string what, Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        if (!a.Keys.Order().SequenceEqual(b.Keys.Order())) { yield return $"{what} keys"; yield break; }
        foreach (var (k, t) in a)
            if (!Same(t, b[k])) yield return $"{what}.{k}";
    }

    /// <summary>Same shape and every element equal (bitwise for finite values).</summary>
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    public static void Subset(string from, string to, int train, int test)
    {
        Directory.CreateDirectory(to);
        foreach (var (name, want) in new[] { ("train-images-idx3-ubyte", train), ("train-labels-idx1-ubyte", train), ("t10k-images-idx3-ubyte", test), ("t10k-labels-idx1-ubyte", test) })
        {
            string src = File.Exists(Path.Combine(from, name)) ? Path.Combine(from, name) : Path.Combine(from, name + ".gz");
            var (dims, data) = IdxFile.Read(src);
            int per = data.Length / dims[0];
            int n = Math.Min(want, dims[0]);
            IdxFile.Write(Path.Combine(to, name), [n, .. dims[1..]], data[..(n * per)], gzip: false);
        }
        Console.WriteLine($"wrote {train} train and {test} test images of {from} to {to}");
    }
}
