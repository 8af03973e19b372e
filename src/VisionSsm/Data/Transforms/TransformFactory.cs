namespace VisionSsm.Data.Transforms;

/// <summary>
/// Builds timm-like pipelines (timm/data/transforms_factory.py): train = [channels] → RandomResizedCrop (or resize +
/// pad/random-crop for small images) → flip → RandAugment or ColorJitter → Normalize → RandomErasing;
/// eval = [channels] → resize (floor(size / cropPct)) → center crop → Normalize.
/// </summary>
public static class TransformFactory
{
    public static Compose Train(TransformOptions o)
    {
        var list = new List<ISampleTransform>();
        if (o.Channels != 0) list.Add(new ConvertChannels(o.Channels));
        if (o.SmallImage)
        {
            list.Add(new ResizeTo(o.ImageSize, o.Interpolation));
            if (o.Padding > 0) list.Add(new PadRandomCrop(o.Padding));
        }
        else list.Add(new RandomResizedCrop(o.ImageSize, o.ScaleMin, o.ScaleMax, o.RatioMin, o.RatioMax, o.Interpolation));
        if (o.HFlip > 0) list.Add(new RandomHorizontalFlip(o.HFlip));
        if (o.RandAugment is { Length: > 0 } ra)
            list.Add(RandAugment.Parse(ra, fill: o.Mean.Select(m => MathF.Round(m * 255) / 255).ToArray()));
        if (o.ColorJitter is > 0 && (o.RandAugment is null || o.ForceColorJitter))
            list.Add(new ColorJitter(o.ColorJitter.Value));
        list.Add(new Normalize(o.Mean, o.Std));
        if (o.ReProb > 0) list.Add(new RandomErasing(o.ReProb, o.ReMode, o.ReCount));
        return new Compose(list);
    }

    public static Compose Eval(TransformOptions o)
    {
        var list = new List<ISampleTransform>();
        if (o.Channels != 0) list.Add(new ConvertChannels(o.Channels));
        list.Add(o.SmallImage ? new ResizeTo(o.ImageSize, o.Interpolation) : new ResizeCenterCrop(o.ImageSize, o.CropPct, o.Interpolation));
        list.Add(new Normalize(o.Mean, o.Std));
        return new Compose(list);
    }
}
