using VisionSsm.Analysis;

namespace VisionSsm.Tests.Analysis;

/// <summary>`vssm bench --sizes`: N or HxW, comma-separated.</summary>
public class BenchSizeTests
{
    [Theory]
    [InlineData("224", 224, 224)]
    [InlineData("512x2048", 512, 2048)]
    [InlineData("800X1333", 800, 1333)]
    [InlineData("800×1333", 800, 1333)]
    [InlineData(" 64 x 96 ", 64, 96)]
    [InlineData("7x7", 7, 7)]
    public void ParsesASize(string text, int height, int width)
    {
        var s = BenchSize.TryParse(text);
        Assert.Equal(new BenchSize(height, width), s);
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("0")]
    [InlineData("-8")]
    [InlineData("64x")]
    [InlineData("x64")]
    [InlineData("64x0")]
    [InlineData("1x2x3")]
    [InlineData("64.5")]
    [InlineData("+64")]
    [InlineData("sixty")]
    public void RejectsABadSize(string text) => Assert.Null(BenchSize.TryParse(text));

    [Fact]
    public void ListKeepsOrderAndDropsDuplicates()
    {
        var list = BenchSize.ParseList("512, 512x2048,512,512X2048");
        Assert.Equal([new BenchSize(512), new BenchSize(512, 2048)], list);
    }

    [Theory]
    [InlineData("512,x")]
    [InlineData("8,,0")]
    [InlineData(",")]
    [InlineData("512x2048x3")]
    public void ABadListNamesTheOptionAndTheForm(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => BenchSize.ParseList(text));
        Assert.Contains("--sizes", e.Message);
        Assert.Contains("HxW", e.Message);
        Assert.Equal("sizes", e.ParamName);
    }

    [Fact]
    public void LabelsAreNForSquaresAndHxWOtherwise()
    {
        Assert.Equal("512", new BenchSize(512).ToString());
        Assert.Equal("512x2048", new BenchSize(512, 2048).ToString());
        Assert.Equal(new BenchSize(512, 2048), BenchSize.TryParse(new BenchSize(512, 2048).ToString()));
        Assert.Equal(1024.0, new BenchSize(512, 2048).EquivalentSide, 12); // √(512·2048)
    }
}
