using VisionSsm.Detection.Training;

namespace VisionSsm.Tests.Detection.Training;

public class WarmupMultiStepScheduleTests
{
    [Fact]
    public void Mask_rcnn_1x_schedule_values()
    {
        // 1×: lr 1e-4, warmup 500 iterations from 0.001·lr, ×0.1 at epochs 8 and 11; 1000 iterations per epoch.
        var s = new WarmupMultiStepSchedule(1e-4, 1000, 500, 0.001, [8, 11], 0.1);
        Assert.Equal(1e-7, s.At(0), 15);
        Assert.Equal(1e-4 * (0.001 + 0.999 * 250 / 500), s.At(250), 15);
        Assert.Equal(1e-4, s.At(500), 15);
        Assert.Equal(1e-4, s.At(7999), 15);
        Assert.Equal(1e-5, s.At(8000), 15);
        Assert.Equal(1e-5, s.At(10_999), 15);
        Assert.Equal(1e-6, s.At(11_000), 15);
        Assert.Equal(1e-6, s.At(11_999), 15);
        // Warmup longer than an epoch overlaps a milestone: the factors multiply (mmengine chains schedulers).
        var t = new WarmupMultiStepSchedule(1.0, 10, 30, 0.5, [2], 0.1);
        Assert.Equal((0.5 + 0.5 * 25 / 30.0) * 0.1, t.At(25), 12);
    }
}
