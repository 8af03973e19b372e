using System.Runtime.InteropServices;

namespace VisionSsm.Cli;

/// <summary>
/// Turns the first Ctrl+C (SIGINT) or SIGTERM into a cancellation, so training saves a checkpoint and exits cleanly
/// instead of dying mid-step; a second Ctrl+C terminates immediately.
/// </summary>
public sealed class ShutdownSignal : IDisposable
{
    readonly CancellationTokenSource cts = new();
    readonly PosixSignalRegistration? sigterm;

    public CancellationToken Token => cts.Token;

    public ShutdownSignal()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        try { sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSigterm); }
        catch (PlatformNotSupportedException) { }
    }

    void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (cts.IsCancellationRequested) return; // second Ctrl+C: let the process die
        e.Cancel = true;
        Console.Error.WriteLine("\nvssm: stopping after this step and saving a checkpoint (Ctrl+C again to abort)…");
        cts.Cancel();
    }

    void OnSigterm(PosixSignalContext context)
    {
        context.Cancel = true;
        cts.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        sigterm?.Dispose();
        cts.Dispose();
    }
}
