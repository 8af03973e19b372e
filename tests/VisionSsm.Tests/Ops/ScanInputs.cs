using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary>One selective-scan test case: sizes and options (G = 0 means ungrouped B/C of shape (batch, N, L)).</summary>
public sealed record ScanCase(int Batch, int Channels, int Length, int States, int Groups, bool WithD, bool WithZ,
    bool WithBias, bool Softplus)
{
    public override string ToString() =>
        $"b{Batch} D{Channels} L{Length} N{States} G{Groups}{(WithD ? " D" : "")}{(WithZ ? " z" : "")}{(WithBias ? " bias" : "")}{(Softplus ? " softplus" : "")}";
}

/// <summary>Random inputs in the ranges the models produce: A &lt; 0, Δ positive after bias/softplus.</summary>
public static class ScanInputs
{
    /// <summary>u, delta, A, B, C, D?, z?, deltaBias? in float64 (cast as needed).</summary>
    public static Tensor?[] Make(ScanCase c, int seed)
    {
        var g = new Generator((ulong)seed);
        var f64 = ScalarType.Float64;
        long[] bc = c.Groups == 0 ? [c.Batch, c.States, c.Length] : [c.Batch, c.Groups, c.States, c.Length];
        var u = randn([c.Batch, c.Channels, c.Length], dtype: f64, generator: g);
        // Without softplus Δ is used as is: keep it positive like a real step size.
        var delta = c.Softplus
            ? randn([c.Batch, c.Channels, c.Length], dtype: f64, generator: g) * 0.7 - 1.0
            : rand([c.Batch, c.Channels, c.Length], dtype: f64, generator: g) * 0.5 + 0.02;
        var a = -exp(randn([c.Channels, c.States], dtype: f64, generator: g) * 0.5);
        var b = randn(bc, dtype: f64, generator: g);
        var cc = randn(bc, dtype: f64, generator: g);
        var d = c.WithD ? randn([c.Channels], dtype: f64, generator: g) : null;
        var z = c.WithZ ? randn([c.Batch, c.Channels, c.Length], dtype: f64, generator: g) : null;
        var bias = c.WithBias ? rand([c.Channels], dtype: f64, generator: g) * 0.2 + (c.Softplus ? -0.5 : 0.0) : null;
        return [u, delta, a, b, cc, d, z, bias];
    }

    /// <summary>Maximum absolute difference divided by max(1, max |expected|).</summary>
    public static double RelErr(Tensor actual, Tensor expected)
    {
        using var _ = no_grad();
        using var e = expected.to_type(ScalarType.Float64);
        using var a = actual.to_type(ScalarType.Float64);
        double scale = Math.Max(1.0, e.abs().max().item<double>());
        return (a - e).abs().max().item<double>() / scale;
    }
}
