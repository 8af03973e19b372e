// Benchmarks: `dotnet run -c Release --project bench/VisionSsm.Bench -- <suite>`; suites register in Suites.cs.
return VisionSsm.Bench.Suites.Run(args);
