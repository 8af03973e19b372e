namespace VisionSsm.Segmentation.Data;

/// <summary>One Fashion-MNIST item placed on a canvas: which source image (index into its split), its class
/// (0–9, Fashion-MNIST's), the scale factor, the scaled side in pixels and the top-left corner.</summary>
public sealed record CanvasItem(int SourceIndex, int ClassIndex, double Scale, int Side, int X, int Y);
