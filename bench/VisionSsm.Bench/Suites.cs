namespace VisionSsm.Bench;

/// <summary>Named benchmark suites; each prints a Markdown table (median of repeated runs after warm-up).</summary>
public static class Suites
{
    static readonly Dictionary<string, (string Description, Func<string[], int> Run)> All = new(StringComparer.Ordinal);

    public static void Register(string name, string description, Func<string[], int> run) => All[name] = (description, run);

    public static int Run(string[] args)
    {
        foreach (var t in typeof(Suites).Assembly.GetTypes().Where(t => t.GetMethod("RegisterSuite") is not null))
            t.GetMethod("RegisterSuite")!.Invoke(null, null);
        if (args.Length == 0 || !All.ContainsKey(args[0]))
        {
            Console.Error.WriteLine("usage: VisionSsm.Bench <suite> [--kernels gemm=off,…] [options]\nsuites:");
            foreach (var (name, s) in All.OrderBy(kv => kv.Key)) Console.Error.WriteLine($"  {name,-16} {s.Description}");
            return args.Length == 0 ? 0 : 2;
        }
        // --kernels (docs/kernel-options.md) sets the process default before the suite runs; suites A/B inside it.
        string kernels = Measure.StringOption(args, "--kernels", "");
        if (kernels.Length > 0) Runtime.KernelOptions.SetProcessDefault(Runtime.KernelOptions.Parse(kernels));
        return All[args[0]].Run(args[1..]);
    }
}
