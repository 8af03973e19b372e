using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Runtime;

public class DenormalFlushTests
{
    // 1e-30 · 1e-10 = 1e-40 lies below float32's smallest normal (2^-126 ≈ 1.18e-38): a denormal unless flushed.
    static readonly float[] Operands = [1e-30f, 1e-10f];

    [Fact]
    public void FlushesDenormalResultsToZeroOnTheCallingThreadOnly()
    {
        float before = 0, flushed = float.NaN, torchFlushed = float.NaN, after = 0, otherThread = 0;
        bool supported = false;
        var t = new Thread(() =>
        {
            before = Operands[0] * Operands[1];
            supported = DenormalFlush.SetOnCurrentThread(true);
            flushed = Operands[0] * Operands[1];
            using (var x = tensor(Operands[0])) using (var y = x * Operands[1]) torchFlushed = y.item<float>();
            DenormalFlush.SetOnCurrentThread(false);
            after = Operands[0] * Operands[1];
        });
        t.Start();
        t.Join();
        otherThread = Operands[0] * Operands[1];
        Assert.True(supported);
        Assert.True(float.IsSubnormal(before), $"{before}");
        Assert.Equal(0f, flushed);
        Assert.Equal(0f, torchFlushed);
        Assert.True(float.IsSubnormal(after), $"{after}");
        Assert.True(float.IsSubnormal(otherThread), $"{otherThread}");
    }
}
