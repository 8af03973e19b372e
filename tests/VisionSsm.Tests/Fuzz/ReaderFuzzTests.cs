using VisionSsm.Bench.Fuzz;

namespace VisionSsm.Tests.Fuzz;

/// <summary>
/// The short version of the reader fuzzer (bench suite <c>fuzz</c>, docs/reliability.md): 500–1,000 mutated
/// inputs per reader, each of which must be read or rejected with the reader's documented error naming the file,
/// without an allocation beyond the target's bound. Seed 2: inputs the full run (seed 1) does not cover.
/// </summary>
public class ReaderFuzzTests
{
    public static TheoryData<string, int> Readers => new()
    {
        { "pth", 500 }, { "safetensors", 1000 }, { "idx", 1000 }, { "cifar", 1000 }, { "ckpt", 1000 },
        { "run-metrics", 1000 }, { "run-config", 1000 }, { "image", 1000 },
    };

    [Theory]
    [MemberData(nameof(Readers))]
    public void EveryMutatedInputIsReadOrRejectedWithTheDocumentedError(string reader, int inputs)
    {
        // tmpfs when there is one: every input is written to a file.
        string work = Directory.Exists("/dev/shm") ? Directory.CreateDirectory(Path.Combine("/dev/shm", $"vssm-fuzz-test-{Guid.NewGuid():N}")).FullName
            : Directory.CreateTempSubdirectory("vssm-fuzz-test-").FullName;
        try
        {
            string? fixtures = Path.Combine(AppContext.BaseDirectory, "Interop", "Fixtures");
            var target = FuzzTargets.Create(reader, Path.Combine(work, "seeds"), Directory.Exists(fixtures) ? Directory.GetFiles(fixtures, "*.pt") : null);
            var report = ReaderFuzz.Run(target, inputs, seed: 2, Path.Combine(work, "run"), TimeSpan.FromMinutes(2));
            Assert.True(report.Failures.Count == 0,
                string.Join("\n", report.Failures.Take(5).Select(f => $"input {f.Input}: {f.Kind}: {f.Detail}")));
            Assert.Equal(inputs, report.Accepted + report.Rejected);
            Assert.True(report.Rejected > inputs / 4, $"only {report.Rejected} inputs were rejected: the mutations do not reach the checks");
        }
        finally { try { Directory.Delete(work, true); } catch (IOException) { } }
    }
}
