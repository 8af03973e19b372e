using static TorchSharp.torch;

namespace VisionSsm.Detection;

/// <summary>Copies small tensors (boxes, scores, labels) to C# arrays; empty tensors give empty arrays.</summary>
static class HostArrays
{
    public static double[] Doubles(Tensor t)
    {
        if (t.numel() == 0) return [];
        using var d = t.detach().to(ScalarType.Float64).cpu().contiguous();
        return d.data<double>().ToArray();
    }

    public static long[] Longs(Tensor t)
    {
        if (t.numel() == 0) return [];
        using var d = t.detach().to(ScalarType.Int64).cpu().contiguous();
        return d.data<long>().ToArray();
    }
}
