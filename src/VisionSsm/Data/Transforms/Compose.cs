namespace VisionSsm.Data.Transforms;

/// <summary>Applies transforms in order, sharing one <see cref="Random"/> (so the whole pipeline is repeatable).</summary>
public sealed class Compose(IReadOnlyList<ISampleTransform> transforms) : ISampleTransform
{
    public Compose(params ISampleTransform[] transforms) : this((IReadOnlyList<ISampleTransform>)transforms) { }

    public IReadOnlyList<ISampleTransform> Transforms { get; } = transforms;

    public ImageSample Apply(ImageSample sample, Random rng)
    {
        foreach (var t in Transforms) sample = t.Apply(sample, rng);
        return sample;
    }

    public override string ToString() => string.Join(" → ", Transforms.Select(t => t.ToString()));
}
