namespace VisionSsm.Detection.Coco;

/// <summary>A COCO JSON file that cannot be used: the message names the file, the offending entry and what was expected.</summary>
public sealed class CocoFormatException(string message, Exception? inner = null) : FormatException(message, inner);
