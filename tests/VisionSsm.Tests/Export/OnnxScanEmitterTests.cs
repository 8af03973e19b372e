using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using VisionSsm.Export;
using VisionSsm.Ops;
using VisionSsm.Tests.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Export;

/// <summary>
/// The scan emitter alone, as a graph with u, Δ, B, C, z as inputs, run in ONNX Runtime against the float64 reference
/// scan (a loop over L) over a grid of L (shorter than a chunk, padded, exact powers, several levels), N, grouping and
/// every option. Tolerance 1e-5 relative to max(1, |reference|): float32 prefix sums and exps, as the chunked scan's
/// own float32 grid (SelectiveScanChunkedTests).
/// </summary>
public class OnnxScanEmitterTests
{
    static readonly int[] Ls = [5, 37, 64, 301];
    static readonly int[] Ns = [1, 16];
    static readonly int[] Gs = [0, 1, 4];

    public static TheoryData<int, int> Grid()
    {
        var data = new TheoryData<int, int>();
        for (int i = 0; i < 12; i++) data.Add(i, i % 3 == 0 ? 4 : 8);
        return data;
    }

    static ScanCase Case(int i) => new(2, 8, Ls[i % 4], Ns[(i / 4) % 2], Gs[i % 3],
        WithD: (i & 1) != 0, WithZ: (i & 2) != 0, WithBias: (i & 4) == 0, Softplus: (i & 8) == 0 || i % 3 == 1);

    [Theory]
    [MemberData(nameof(Grid))]
    public void MatchesTheReferenceScan(int index, int chunk)
    {
        var c = Case(index);
        using var scope = NewDisposeScope();
        var x = ScanInputs.Make(c, seed: 700 + index);
        var (yRef, _) = SelectiveScanReference.Apply(ScanArguments.Validate(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], c.Softplus));

        var g = new OnnxGraph(17);
        OnnxValue In(string name, Tensor t) => g.Input(name, [-1, .. t.shape[1..]], dynamicBatch: true, 0);
        var u = In("u", x[0]!);
        var delta = In("delta", x[1]!);
        var b = In("B", x[3]!);
        var cc = In("C", x[4]!);
        var z = x[6] is null ? null : In("z", x[6]!);
        var y = OnnxScanEmitter.Emit(g, u, delta, x[2]!, b, cc, x[5], z, x[7], c.Softplus, chunk, "scan");
        g.Output(y, "y", dynamicBatch: true, 0);
        var bytes = g.ToModel("test", new Dictionary<string, string>()).ToByteArray();

        using var session = new InferenceSession(bytes);
        var names = new List<string> { "u", "delta", "B", "C" };
        var tensors = new List<Tensor> { x[0]!, x[1]!, x[3]!, x[4]! };
        if (z is not null) { names.Add("z"); tensors.Add(x[6]!); }
        var values = tensors.Select(t => OrtValue.CreateTensorValueFromMemory(t.to(ScalarType.Float32).data<float>().ToArray(), t.shape)).ToArray();
        using var results = session.Run(new RunOptions(), names, values, ["y"]);
        foreach (var v in values) v.Dispose();
        var actual = tensor(results[0].GetTensorDataAsSpan<float>().ToArray(), yRef.shape);
        double err = ScanInputs.RelErr(actual, yRef);
        Assert.True(err < 1e-5, $"{c} Q{chunk}: {err:E2}");
    }

    /// <summary>The graph has no loop: no Loop or Scan operator, and the node count grows with log_Q L, not L.</summary>
    [Fact]
    public void GraphIsLoopFreeAndLogarithmicInLength()
    {
        int Nodes(long l)
        {
            var g = new OnnxGraph(17);
            var u = g.Input("u", [-1, 4, l], true, 0);
            var bc = g.Input("B", [-1, 1, l], true, 0);
            using var a = -ones(4, 1);
            OnnxScanEmitter.Emit(g, u, u, a, bc, bc, null, null, null, true, 4, "s");
            Assert.DoesNotContain(g.Proto.Node, n => n.OpType is "Loop" or "Scan");
            return g.NodeCount;
        }
        int n16 = Nodes(16), n256 = Nodes(256), n4096 = Nodes(4096);
        // 4⁶ = 4096: two more levels than 4² = 16 and 4⁴ = 256 each, a constant number of nodes per level.
        Assert.Equal(n256 - n16, n4096 - n256);
        Assert.True(n4096 < 200, $"{n4096} nodes for L = 4096");
    }
}
