using VisionSsm.Models;
using static TorchSharp.torch;

// Builds a zoo model from the package and runs one forward pass on zeros.
string name = args.Length > 0 ? args[0] : "vmamba_nano";
var entry = ModelZoo.Get(name);
using var model = ModelZoo.Create(name, new ModelOptions(NumClasses: 10, InChannels: 3, ImageSize: entry.DefaultImageSize));
model.eval();
using var _ = no_grad();
using var x = zeros(1, 3, entry.DefaultImageSize, entry.DefaultImageSize);
using var y = model.forward(x);
Console.WriteLine($"{name}: input [{string.Join(", ", x.shape)}] -> output [{string.Join(", ", y.shape)}]");
return y.shape.SequenceEqual(new long[] { 1, 10 }) ? 0 : 1;
