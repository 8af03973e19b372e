using System.CommandLine;
using VisionSsm.Cli;

return CliApp.Build().Parse(args).Invoke();
