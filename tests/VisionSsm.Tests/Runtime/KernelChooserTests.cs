using VisionSsm.Runtime;
using Xunit;

namespace VisionSsm.Tests.Runtime;

/// <summary>The choice logic with an injected timer: no clock is read, so every decision is determined by the script.</summary>
public class KernelChooserTests
{
    /// <summary>A fake timer: runs the action (so the test sees which side ran) and returns the next scripted time of that side.</summary>
    sealed class Script(double[] ours, double[] libtorch)
    {
        int nextOurs, nextLib;
        public int OursRuns, LibRuns;
        public void Ours() => OursRuns++;
        public void Lib() => LibRuns++;
        public double Time(Action run)
        {
            int before = OursRuns;
            run();
            return OursRuns > before ? ours[nextOurs++] : libtorch[nextLib++];
        }
    }

    [Theory]
    [InlineData(new[] { 1.0, 1.0, 1.0 }, new[] { 2.0, 2.0, 2.0 }, true)]
    [InlineData(new[] { 3.0, 3.0, 3.0 }, new[] { 2.0, 2.0, 2.0 }, false)]
    [InlineData(new[] { 1.0, 9.0, 1.2 }, new[] { 1.1, 1.1, 1.1 }, false)]    // medians 1.2 vs 1.1: one outlier does not decide
    [InlineData(new[] { 1.0, 50.0, 1.0 }, new[] { 1.1, 1.1, 1.1 }, true)]    // medians 1.0 vs 1.1
    [InlineData(new[] { 2.0, 2.0, 2.0 }, new[] { 2.0, 2.0, 2.0 }, false)]    // a tie keeps libtorch
    public void Measure_keeps_the_side_with_the_lower_median(double[] ours, double[] libtorch, bool expected)
    {
        var s = new Script(ours, libtorch);
        var chooser = new KernelChooser(s.Time, reps: 3);
        Assert.Equal(expected, chooser.PreferOurs(KernelChoice.Measure, "op|8x8|f32|t1", s.Ours, s.Lib));
        Assert.Equal(4, s.OursRuns);   // one warm-up and three timed runs per side
        Assert.Equal(4, s.LibRuns);
        Assert.Equal(expected, chooser.Choices["op|8x8|f32|t1"]);
    }

    [Fact]
    public void A_key_is_timed_once_and_other_keys_are_timed_separately()
    {
        var s = new Script([1, 1, 1, 5, 5, 5], [2, 2, 2, 2, 2, 2]);
        var chooser = new KernelChooser(s.Time, reps: 3);
        Assert.True(chooser.PreferOurs(KernelChoice.Measure, "a", s.Ours, s.Lib));
        Assert.True(chooser.PreferOurs(KernelChoice.Measure, "a", s.Ours, s.Lib));
        Assert.Equal(4, s.OursRuns);
        Assert.False(chooser.PreferOurs(KernelChoice.Measure, "b", s.Ours, s.Lib));
        Assert.Equal(8, s.OursRuns);
        chooser.Clear();
        Assert.Empty(chooser.Choices);
    }

    [Theory]
    [InlineData(KernelChoice.Ours, true)]
    [InlineData(KernelChoice.Libtorch, false)]
    public void A_forced_side_is_taken_without_running_either(KernelChoice mode, bool expected)
    {
        var s = new Script([], []);
        var chooser = new KernelChooser(s.Time);
        Assert.Equal(expected, chooser.PreferOurs(mode, "a", s.Ours, s.Lib));
        Assert.Equal(0, s.OursRuns + s.LibRuns);
        Assert.Empty(chooser.Choices);
    }

    [Fact]
    public void Keys_group_sizes_by_the_next_power_of_two()
    {
        Assert.Equal(KernelChooser.Key("mm", "f32", 2, 197, 384, 1536), KernelChooser.Key("mm", "f32", 2, 256, 300, 1025));
        Assert.Equal("mm|256x512x2048|f32|t2", KernelChooser.Key("mm", "f32", 2, 197, 384, 1536));
        Assert.NotEqual(KernelChooser.Key("mm", "f32", 2, 197, 384, 1536), KernelChooser.Key("mm", "f32", 1, 197, 384, 1536));
        Assert.Equal("mm|1x1|f32|t1", KernelChooser.Key("mm", "f32", 1, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KernelChooser(reps: 0));
    }

    [Fact]
    public void The_choice_parses_and_prints_and_the_reference_preset_takes_libtorch()
    {
        Assert.Equal(KernelChoice.Measure, KernelOptions.Default.Choice);
        Assert.Equal(KernelChoice.Libtorch, KernelOptions.Reference.Choice);
        var o = KernelOptions.Parse("choice=Ours");
        Assert.Equal(KernelChoice.Ours, o.Choice);
        Assert.Equal("choice=ours", o.ToString());
        Assert.Equal(o, KernelOptions.Parse(o.ToString()));
        var e = Assert.Throws<FormatException>(() => KernelOptions.Parse("choice=fastest"));
        Assert.Contains("measure/ours/libtorch", e.Message);
        Assert.Throws<FormatException>(() => KernelOptions.Parse("choice=1"));
    }
}
