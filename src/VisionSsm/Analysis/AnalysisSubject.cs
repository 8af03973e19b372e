using System.Runtime.InteropServices;
using TorchSharp;
using VisionSsm.Models;
using VisionSsm.Training;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>
/// A model to analyse, at random initialisation or from a checkpoint (ours or official weights), with the
/// preprocessing its inputs get at the analysis size.
/// </summary>
public sealed class AnalysisSubject : IDisposable
{
    AnalysisSubject(VisionModel net, string modelName, string source, IReadOnlyList<string> classes, Training.Preprocessing preprocessing)
    {
        (Net, ModelName, Source, Classes, Preprocessing) = (net, modelName, source, classes, preprocessing);
    }

    public VisionModel Net { get; }
    public string ModelName { get; }
    /// <summary>"random init" or the checkpoint's path.</summary>
    public string Source { get; }
    /// <summary>Class labels: a VisionSsm checkpoint's names, else the class indices.</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>The evaluation preprocessing at the analysis size (<see cref="Size"/>).</summary>
    public Training.Preprocessing Preprocessing { get; }
    public int Size => Preprocessing.ImageSize;
    public int Channels => Preprocessing.Channels;
    public ScalarType Dtype => Net.parameters().First().dtype;

    /// <summary>The word for a random-initialisation "checkpoint" in lists of checkpoints.</summary>
    public const string RandomInit = "init";

    /// <summary>
    /// Opens <paramref name="model"/> (a zoo name; null = the one a .ckpt records) from <paramref name="checkpoint"/>
    /// (null or <see cref="RandomInit"/> = random initialisation, seeded with <paramref name="seed"/>) at input side
    /// <paramref name="size"/> (null = the checkpoint's or the zoo entry's). A random model is built for the size, so
    /// families with size-dependent parameters take any size they can be built for; a checkpoint keeps its built size.
    /// A size the model cannot take throws an <see cref="ArgumentException"/> naming it.
    /// </summary>
    public static AnalysisSubject Open(string? model, string? checkpoint = null, int? size = null, Device? device = null,
        ScalarType? dtype = null, int seed = 0)
    {
        if (size is < 1) throw new ArgumentException($"--size {size}: expected a positive image size.", "size");
        AnalysisSubject subject;
        if (checkpoint is null || checkpoint == RandomInit)
        {
            if (model is null) throw new ArgumentException("--model: name the zoo model to analyse at random initialisation.", "model");
            var entry = ModelZoo.Get(model);
            int channels = entry.Preprocessing.Mean.Length;
            int side = size ?? entry.DefaultImageSize;
            random.manual_seed(seed);
            VisionModel net;
            try { net = ModelZoo.Create(entry.Name, new ModelOptions(InChannels: channels, ImageSize: side, DropPathRate: 0, Device: device, Dtype: dtype)); }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"--size {side}: model '{entry.Name}' cannot be built for {channels}×{side}×{side} input " +
                                            $"(its default size is {entry.DefaultImageSize}): {e.Message}", "size", e);
            }
            var classes = Enumerable.Range(0, net.NumClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            var pre = Training.Preprocessing.FromZoo(entry.Preprocessing, channels) with { ImageSize = side };
            subject = new AnalysisSubject(net, entry.Name, "random init", classes, pre);
        }
        else
        {
            var loaded = CheckpointModel.Open(checkpoint, model, ema: false, device);
            if (dtype is { } t) loaded.Net.to(t);
            var pre = size is { } s ? loaded.Preprocessing with { ImageSize = s } : loaded.Preprocessing;
            subject = new AnalysisSubject(loaded.Net, loaded.ModelName, checkpoint, loaded.Classes, pre);
        }
        try { subject.CheckInput(device); }
        catch { subject.Dispose(); throw; }
        return subject;
    }

    /// <summary>One forward pass of a blank image, so a size the model cannot take fails here, naming the size.</summary>
    void CheckInput(Device? device)
    {
        Net.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            Net.forward(zeros([1, Channels, Size, Size], dtype: Dtype, device: device));
        }
        catch (Exception e) when (e is ArgumentException or ExternalException or InvalidOperationException)
        {
            throw new ArgumentException($"--size {Size}: model '{ModelName}' ({Source}) cannot take {Channels}×{Size}×{Size} input " +
                                        $"(its default size is {ModelZoo.Get(ModelName).DefaultImageSize}): {e.Message.Split('\n')[0]}", "size", e);
        }
    }

    public void Dispose() => Net.Dispose();
}
