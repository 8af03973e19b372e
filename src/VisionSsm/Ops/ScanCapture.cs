using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// One selective-scan call as <see cref="SelectiveScan"/> saw it: detached copies of its inputs (raw Δ before bias and
/// softplus, as passed) and of its output y. Owns the tensors.
/// </summary>
public sealed class CapturedScan : IDisposable
{
    public required Tensor U { get; init; }
    public required Tensor Delta { get; init; }
    public required Tensor A { get; init; }
    public required Tensor B { get; init; }
    public required Tensor C { get; init; }
    public Tensor? D { get; init; }
    public Tensor? Z { get; init; }
    public Tensor? DeltaBias { get; init; }
    public bool DeltaSoftplus { get; init; }
    /// <summary>The scan's output, gated by SiLU(z) when z was given.</summary>
    public required Tensor Y { get; init; }

    public long Batch => U.shape[0];
    public long Channels => U.shape[1];
    public long Length => U.shape[2];
    public long States => A.shape[1];

    public void Dispose()
    {
        foreach (var t in new[] { U, Delta, A, B, C, D, Z, DeltaBias, Y }) t?.Dispose();
    }
}

/// <summary>
/// Records every <see cref="SelectiveScan"/> call made on the current logical flow (thread or async context) while
/// the capture is open: <c>using var capture = ScanCapture.Start(); model.call(x); capture.Scans</c>. An observer
/// for analyses (the scan's implicit attention, docs/analysis.md); it changes nothing in the computation.
/// Captures nest; only the innermost records. Disposing the capture disposes the recorded tensors it still owns
/// (<see cref="Take"/> hands them over).
/// </summary>
public sealed class ScanCapture : IDisposable
{
    static readonly AsyncLocal<ScanCapture?> current = new();
    readonly ScanCapture? previous;
    readonly List<CapturedScan> scans = [];
    bool disposed;

    ScanCapture()
    {
        previous = current.Value;
        current.Value = this;
    }

    public static ScanCapture Start() => new();

    /// <summary>When false, calls pass unrecorded (e.g. outside the layers of interest).</summary>
    public bool Enabled { get; set; } = true;

    public IReadOnlyList<CapturedScan> Scans => scans;

    /// <summary>Hands the recorded scans over to the caller, who then owns (and disposes) them.</summary>
    public List<CapturedScan> Take()
    {
        var taken = new List<CapturedScan>(scans);
        scans.Clear();
        return taken;
    }

    internal static void Record(ScanArguments a, Tensor y)
    {
        var capture = current.Value;
        if (capture is null || !capture.Enabled || capture.disposed) return;
        static Tensor Keep(Tensor t) => t.detach().clone().DetachFromDisposeScope();
        capture.scans.Add(new CapturedScan
        {
            U = Keep(a.U), Delta = Keep(a.Delta), A = Keep(a.A), B = Keep(a.B), C = Keep(a.C),
            D = a.D is null ? null : Keep(a.D), Z = a.Z is null ? null : Keep(a.Z),
            DeltaBias = a.DeltaBias is null ? null : Keep(a.DeltaBias), DeltaSoftplus = a.DeltaSoftplus, Y = Keep(y),
        });
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (ReferenceEquals(current.Value, this)) current.Value = previous;
        foreach (var s in scans) s.Dispose();
        scans.Clear();
    }
}
