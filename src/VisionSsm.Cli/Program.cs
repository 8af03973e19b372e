using VisionSsm.Cli;

using var shutdown = new ShutdownSignal();
return CliApp.Run(args, CliContext.FromConsole() with { Cancellation = shutdown.Token });
