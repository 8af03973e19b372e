using System.Globalization;
using System.Reflection;

namespace VisionSsm.Runtime;

/// <summary>
/// The switchboard: which fast paths the library may take. Kernel choice depends only on the inputs and these options.
/// Every fast path has a slow twin computing the same function (parity tests), so switching one off changes speed, not
/// results beyond rounding. A fast path also needs its own conditions (dtype, device, no gradient, CPU features).
/// <para>Scope, innermost wins: a per-module value (<c>Mamba.Kernels</c>, <c>BiMamba.Kernels</c>, like mamba_ssm's
/// <c>use_fast_path</c>), an ambient override for a block of code (<see cref="Use"/>; flows with async calls and into
/// the inter-op workers, never into other threads' work; the CLI's <c>--kernels</c> is one around the verb), the process
/// default (<see cref="SetProcessDefault"/>, once at start-up), then <see cref="Default"/>.</para>
/// Text form (CLI, <see cref="Parse"/>): <c>gemm=off,interop=off</c>; names are the property names, any case.
/// </summary>
public sealed record KernelOptions
{
    /// <summary>The C# AVX-512 GEMMs (Ops/Gemm: token linears, 1×1 convs, the fused mixers' and MHSA's products);
    /// off: libtorch (MKL). Only on CPUs with AVX-512.</summary>
    public bool Gemm { get; init; } = true;

    /// <summary>Where both our kernel and libtorch's can compute an op (the GEMMs above, <c>TokenLinear</c>): measure
    /// both once per shape class on this machine and keep the faster (<see cref="KernelChooser"/>), or force
    /// <see cref="KernelChoice.Ours"/> or <see cref="KernelChoice.Libtorch"/>.</summary>
    public KernelChoice Choice { get; init; } = KernelChoice.Measure;

    /// <summary>The Mamba/BiMamba fused float32 inference path (Ops/BiCausalConv, one batched scan for Vim's two
    /// directions) and BiMamba's fused training path (Ops/BiCausalConvFunction); off: the module path of
    /// mamba_simple.py.</summary>
    public bool FusedMamba { get; init; } = true;

    /// <summary>The fused Mamba/BiMamba paths' in_proj as W·xᵀ (channel-major, conv along contiguous time rows; Mamba from L = 64);
    /// off: token-major in_proj and a transposing conv.</summary>
    public bool MambaChannelMajorInProjection { get; init; } = true;

    /// <summary>The C# kernels' parallel loops on libtorch's OpenMP team; off: .NET's Parallel.For.</summary>
    public bool OpenMp { get; init; } = true;

    /// <summary>Inference runs independent branches (vGamba's cell and MHSA, batch halves) side by side on two workers
    /// with ≥ 2 threads; off: op by op on the calling thread.</summary>
    public bool InterOp { get; init; } = true;

    /// <summary>Training (Training/Trainer, Segmentation/Training/SegmentationTrainer) with ≥ 2 threads splits each
    /// batch into one contiguous shard per thread and runs forward + loss + backward of the shards side by side, each on
    /// its own worker with one thread, then sums the gradients in shard order (Training/DataParallelStep); BatchNorm
    /// models only with ≥ 8 images per shard, each shard normalising with its own statistics as under
    /// DistributedDataParallel. Off: the whole batch op by op, every op split across the threads.</summary>
    public bool DataParallel { get; init; } = true;

    /// <summary>Scans with N = 1 on the row kernel (Ops/ScanRowKernel, AVX-512): null = from <c>ScanRowKernel.MinLength</c>
    /// steps on, true = every length, false = never (the lane kernel).</summary>
    public bool? ScanRowKernel { get; init; }

    /// <summary>The lane scan kernel runs pairs of channel blocks in 512-bit vectors (AVX-512, float, N ≥ 2); off: one
    /// block per 256-bit vector.</summary>
    public bool ScanVector512 { get; init; } = true;

    /// <summary>Scan outputs of at least this many bytes are written with non-temporal stores (they would only evict
    /// the inputs from the cache); 0: always, <see cref="long.MaxValue"/>: never.</summary>
    public long ScanStreamingBytes { get; init; } = 16L << 20;

    /// <summary>BoTNet MHSA attention in blocks of <see cref="MhsaRowBlock"/> query rows: null = on one libtorch thread
    /// with more than that many positions, true = always, false = never (one batched product).</summary>
    public bool? MhsaRowBlocks { get; init; }

    /// <summary>BoTNet MHSA inference (float32, AVX-512 or AVX2 + FMA) with the position logits factorised: r_i·q_j =
    /// rel_w[i / S]·q_j + rel_h[i % S]·q_j as 2S rows added in the softmax (Ops/RowSoftmax), so the logits' product runs
    /// over d rows instead of 2d; off: upstream's product [q; r]ᵀ[k; q].</summary>
    public bool MhsaFactorisedPositions { get; init; } = true;

    /// <summary>Query rows per block of the row-blocked MHSA (392: half of vGamba-B's side-28 map).</summary>
    public int MhsaRowBlock { get; init; } = 392;

    /// <summary>RoIAlign on its C# CPU kernel (Detection/Ops/RoiAlignCpu, float32/float64, hand-written backward);
    /// off: the gather form in libtorch ops.</summary>
    public bool RoiAlignKernel { get; init; } = true;

    /// <summary>1×1 convs with the channel pairs oneDNN's brgemm blocking divides by zero on when the CPU reports no
    /// cache sizes (Ops/OneDnnPointwiseGuard, docs/reliability.md, "oneDNN's 1×1 convolutions on CPUs that report no cache sizes") run as GEMMs: null = on such CPUs, true = always,
    /// false = never. A guard, not a fast path: the reference preset keeps it.</summary>
    public bool? OneDnnPointwiseGuard { get; init; }

    /// <summary>Every fast path allowed (the defaults above).</summary>
    public static KernelOptions Default { get; } = new();

    /// <summary>Every optional fast path off: the slow twins (libtorch ops, module paths, lane scan, batched MHSA).</summary>
    public static KernelOptions Reference { get; } = new()
    {
        Gemm = false, Choice = KernelChoice.Libtorch, FusedMamba = false, MambaChannelMajorInProjection = false,
        OpenMp = false, InterOp = false, DataParallel = false, ScanRowKernel = false, ScanVector512 = false, ScanStreamingBytes = long.MaxValue, MhsaRowBlocks = false,
        MhsaFactorisedPositions = false,
        RoiAlignKernel = false,
    };

    static KernelOptions process = Default;
    static readonly AsyncLocal<KernelOptions?> Ambient = new();

    /// <summary>The options in force here: the innermost <see cref="Use"/> scope, else the process default.</summary>
    public static KernelOptions Current => Ambient.Value ?? Volatile.Read(ref process);

    /// <summary>Sets the process default (once, at start-up, before models run).</summary>
    public static void SetProcessDefault(KernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Volatile.Write(ref process, options);
    }

    /// <summary>Makes <paramref name="options"/> current for this thread's code (and async continuations) until disposed.</summary>
    public static Scope Use(KernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var previous = Ambient.Value;
        Ambient.Value = options;
        return new Scope(previous, true);
    }

    /// <summary><see cref="Use"/> when <paramref name="options"/> is not null; else nothing changes.</summary>
    public static Scope UseIfSet(KernelOptions? options) => options is null ? default : Use(options);

    /// <summary>Restores the options in force before <see cref="Use"/>.</summary>
    public readonly struct Scope : IDisposable
    {
        readonly KernelOptions? previous;
        readonly bool active;
        internal Scope(KernelOptions? previous, bool active) { this.previous = previous; this.active = active; }
        public void Dispose() { if (active) Ambient.Value = previous; }
    }

    static readonly PropertyInfo[] Switches = typeof(KernelOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite).ToArray();

    /// <summary>
    /// Applies <c>name=value</c> pairs (comma-separated; on/off, true/false, 1/0, auto for the three-way ones, a number
    /// for <see cref="MhsaRowBlock"/> and <see cref="ScanStreamingBytes"/>) to <paramref name="baseline"/> (default: <see cref="Default"/>).
    /// "default" and "reference" alone name the two presets.
    /// </summary>
    public static KernelOptions Parse(string text, KernelOptions? baseline = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = baseline ?? Default;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("default", StringComparison.OrdinalIgnoreCase)) { result = Default; continue; }
            if (part.Equals("reference", StringComparison.OrdinalIgnoreCase)) { result = Reference; continue; }
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            var prop = Switches.FirstOrDefault(p => p.Name.Equals(kv[0], StringComparison.OrdinalIgnoreCase))
                ?? throw new FormatException($"unknown kernel switch '{kv[0]}'; known: {string.Join(", ", Switches.Select(p => p.Name.ToLowerInvariant()))}");
            if (kv.Length != 2) throw new FormatException($"expected {kv[0]}=value");
            object? value = prop.PropertyType == typeof(int)
                ? (int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                    : throw new FormatException($"{prop.Name}: expected a positive number, got '{kv[1]}'"))
                : prop.PropertyType == typeof(long)
                ? (long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) ? bytes
                    : throw new FormatException($"{prop.Name}: expected a number ≥ 0, got '{kv[1]}'"))
                : prop.PropertyType.IsEnum
                ? (Enum.TryParse(prop.PropertyType, kv[1], ignoreCase: true, out var e) && Enum.IsDefined(prop.PropertyType, e!) && !int.TryParse(kv[1], out _) ? e
                    : throw new FormatException($"{prop.Name}: expected {string.Join("/", Enum.GetNames(prop.PropertyType).Select(x => x.ToLowerInvariant()))}, got '{kv[1]}'"))
                : ParseSwitch(prop, kv[1]);
            var copy = result with { };
            prop.SetValue(copy, value);
            result = copy;
        }
        return result;
    }

    static bool? ParseSwitch(PropertyInfo prop, string text) => text.ToLowerInvariant() switch
    {
        "on" or "true" or "1" => true,
        "off" or "false" or "0" => false,
        "auto" when prop.PropertyType == typeof(bool?) => null,
        _ => throw new FormatException($"{prop.Name}: expected on/off{(prop.PropertyType == typeof(bool?) ? "/auto" : "")}, got '{text}'"),
    };

    /// <summary>The switches that differ from <see cref="Default"/>, in <see cref="Parse"/>'s form ("default" if none).</summary>
    public override string ToString()
    {
        var parts = Switches.Where(p => !Equals(p.GetValue(this), p.GetValue(Default)))
            .Select(p => $"{p.Name.ToLowerInvariant()}={Format(p.GetValue(this))}").ToList();
        return parts.Count == 0 ? "default" : string.Join(",", parts);
    }

    static string Format(object? v) => v switch
    {
        null => "auto",
        bool b => b ? "on" : "off",
        Enum e => e.ToString().ToLowerInvariant(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString()!,
    };
}
