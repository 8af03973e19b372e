namespace VisionSsm.Tests.Cli;

/// <summary>
/// Training tests compare whole runs bit for bit (resume = uninterrupted). libtorch's default generator is
/// process-wide, so a test on another xunit worker drawing random numbers concurrently would change a model's
/// initialisation; this collection runs alone, after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTrainingCollection
{
    public const string Name = "training runs (serial)";
}
