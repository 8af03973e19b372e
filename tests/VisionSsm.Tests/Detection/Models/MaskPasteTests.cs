using TorchSharp;
using VisionSsm.Detection.Models;
using static TorchSharp.torch;

namespace VisionSsm.Tests.Detection.Models;

public class MaskPasteTests
{
    [Fact]
    public void A_full_mask_covers_exactly_the_pixels_whose_centres_lie_in_its_box()
    {
        // Bilinear sampling at pixel centres with zero padding: a centre inside the box reads ≥ 0.5 (interior 1, the
        // outermost half-cell blends with the zero border at most half-way), a centre outside reads < 0.5.
        var probs = ones(2, 28, 28);
        var boxes = tensor(new float[] { 10, 20, 30, 40, 0, 0, 7.6f, 60 }, new long[] { 2, 4 });
        var masks = MaskPaste.Paste(probs, boxes, 50, 60, 0.5);
        Assert.Equal(new long[] { 2, 50, 60 }, masks.shape);
        var m = masks.to(ScalarType.Byte).data<byte>().ToArray();
        for (int y = 0; y < 50; y++)
            for (int x = 0; x < 60; x++)
            {
                Assert.True((x >= 10 && x < 30 && y >= 20 && y < 40) == (m[y * 60 + x] == 1), $"box 1 pixel ({x}, {y})");
                // Second box (x to 7.6, y past the image): centres x + 0.5 < 7.6 → x ≤ 7, every row.
                Assert.True((x <= 7) == (m[50 * 60 + y * 60 + x] == 1), $"box 2 pixel ({x}, {y})");
            }
    }

    [Fact]
    public void Empty_and_degenerate_boxes_give_empty_masks()
    {
        var masks = MaskPaste.Paste(ones(1, 28, 28), tensor(new float[] { 5, 5, 5, 9 }, new long[] { 1, 4 }), 12, 12, 0.5);
        Assert.Equal(0, masks.sum().item<long>());
        var none = MaskPaste.Paste(zeros(0, 28, 28), zeros(0, 4), 12, 12, 0.5);
        Assert.Equal(new long[] { 0, 12, 12 }, none.shape);
    }
}
