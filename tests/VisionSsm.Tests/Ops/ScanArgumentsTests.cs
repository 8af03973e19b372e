using VisionSsm.Ops;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Ops;

/// <summary>Bad scan inputs fail with an ArgumentException naming the argument, its shape and the expected shape.</summary>
public class ScanArgumentsTests
{
    // batch 2, D 4, L 5, N 3
    static Tensor?[] Good() =>
    [
        randn(2, 4, 5), randn(2, 4, 5), -ones(4, 3), randn(2, 3, 5), randn(2, 3, 5), ones(4), randn(2, 4, 5), zeros(4),
    ];

    static ArgumentException Fails(int index, Tensor replacement)
    {
        var x = Good();
        x[index] = replacement;
        return Assert.Throws<ArgumentException>(() =>
            SelectiveScan.Apply(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], deltaSoftplus: true));
    }

    [Fact]
    public void GoodInputsPass()
    {
        var x = Good();
        using var y = SelectiveScan.Apply(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, x[5], x[6], x[7], deltaSoftplus: true);
        Assert.Equal(new long[] { 2, 4, 5 }, y.shape);
    }

    [Theory]
    [InlineData(0, "u", new long[] { 4, 5 }, "[4, 5]", "(batch, D, L)")]
    [InlineData(1, "delta", new long[] { 2, 4, 6 }, "[2, 4, 6]", "[2, 4, 5]")]
    [InlineData(2, "A", new long[] { 5, 3 }, "[5, 3]", "[4, N]")]
    [InlineData(2, "A", new long[] { 4 }, "[4]", "(D, N)")]
    [InlineData(3, "B", new long[] { 2, 3, 7 }, "[2, 3, 7]", "[2, 3, 5]")]
    [InlineData(3, "B", new long[] { 2, 5 }, "[2, 5]", "(batch, N, L)")]
    [InlineData(4, "C", new long[] { 2, 2, 5 }, "[2, 2, 5]", "[2, 3, 5]")]
    [InlineData(4, "C", new long[] { 2, 1, 4, 5 }, "[2, 1, 4, 5]", "[2, 1, 3, 5]")]
    [InlineData(5, "D", new long[] { 3 }, "[3]", "[4]")]
    [InlineData(6, "z", new long[] { 2, 4 }, "[2, 4]", "[2, 4, 5]")]
    [InlineData(7, "deltaBias", new long[] { 4, 1 }, "[4, 1]", "[4]")]
    public void WrongShapesNameTheArgument(int index, string name, long[] shape, string shown, string expected)
    {
        var e = Fails(index, randn(shape));
        Assert.Equal(name, e.ParamName);
        Assert.Contains(shown, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void GroupsMustDivideChannels()
    {
        var e = Fails(3, randn(2, 3, 3, 5));    // G = 3 does not divide D = 4
        Assert.Equal("B", e.ParamName);
        Assert.Contains("[2, 3, 3, 5]", e.Message);
        Assert.Contains("divide D = 4", e.Message);
    }

    [Fact]
    public void MixedDtypesAreRejected()
    {
        var e = Fails(1, randn(new long[] { 2, 4, 5 }, dtype: ScalarType.Float64));
        Assert.Equal("delta", e.ParamName);
        Assert.Contains("Float64", e.Message);
        Assert.Contains("Float32", e.Message);
    }

    [Fact]
    public void IntegerInputIsRejected()
    {
        var e = Fails(0, ones(new long[] { 2, 4, 5 }, dtype: ScalarType.Int32));
        Assert.Equal("u", e.ParamName);
    }

    [Fact]
    public void MixedDevicesAreRejected()
    {
        // The meta device exists in every libtorch build: a tensor there has shape and dtype but no data.
        var e = Fails(4, empty(new long[] { 2, 3, 5 }, device: new Device(TorchSharp.DeviceType.META)));
        Assert.Equal("C", e.ParamName);
        Assert.Contains("meta", e.Message);
    }
}
