using System.Diagnostics;
using VisionSsm.Data;
using VisionSsm.Detection.Data;
using VisionSsm.Detection.Models;
using VisionSsm.Detection.Training;
using VisionSsm.Models;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// `det-step`: one training step of the embedded detection default (docs/detection.md §10) split into its parts —
/// backbone, FPN, RPN head, RPN targets and loss, proposals (top-k + NMS), RoI heads (sampling, RoIAlign, box and
/// mask heads, losses), backward — and the evaluation's <c>Predict</c> on a batch of test canvases; process CPU and wall
/// milliseconds per part, summed over the measured steps. Options: --steps N (default 6), --batch N (default 8),
/// --threads N (default 2), --model NAME (default the default's), --canvas-dir DIR (default the default's folder),
/// --set Field=V,… (a second configuration, the zoo entry's with these <see cref="MaskRcnnConfig"/> fields changed, timed
/// interleaved with the first step by step).
/// </summary>
public static class DetectionStepProfile
{
    public static void RegisterSuite() =>
        Suites.Register("det-step", "one training step of the detection default split into its parts (CPU and wall ms)", Run);

    static int Run(string[] args)
    {
        int steps = Measure.IntOption(args, "--steps", 6), batchSize = Measure.IntOption(args, "--batch", 8);
        TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 2));
        var defaults = new DetectionTrainConfig();
        string dir = Measure.StringOption(args, "--canvas-dir", "");
        var config = defaults with { BatchSize = batchSize, CanvasDirectory = dir.Length > 0 ? dir : null,
            Model = Measure.StringOption(args, "--model", defaults.Model) };
        var data = DetectionRunData.Open(config);
        var pipeline = config.Pipeline();
        var entry = DetectionZoo.Get(config.Model);
        var options = new ModelOptions(data.Classes.Count, data.Channels, config.ScaleShort.Max());
        var configs = new List<(string Name, MaskRcnnConfig Config)> { ("zoo", entry.Config) };
        string set = Measure.StringOption(args, "--set", "");
        if (set.Length > 0) configs.Add((set, Override(entry.Config, set)));
        var parts = new[] { "backbone", "fpn", "rpn head", "rpn loss", "proposals", "roi loss", "backward", "predict (eval batch)" };
        var cpu = new double[configs.Count, parts.Length];
        var wall = new double[configs.Count, parts.Length];
        var nets = configs.Select(c => { random.manual_seed(1); return new MaskRcnn(c.Config, options); }).ToArray();
        for (int s = -1; s < steps; s++)
        for (int v = 0; v < nets.Length; v++)
        {
            var net = nets[v];
            var c = net.Config;
            var sample = Enumerable.Range(0, batchSize).Select(k => pipeline.Train(data.Train.Get((s + 1) * batchSize + k), new Random(s * 100 + k))).ToList();
            using var scope = NewDisposeScope();
            using var batch = DetectionBatch.Collate(sample, data.Mean, data.Std, config.SizeDivisor);
            int part = 0;
            T Time<T>(Func<T> f)
            {
                double c0 = Measure.ProcessCpuMs();
                var sw = Stopwatch.StartNew();
                var r = f();
                if (s >= 0) { cpu[v, part] += Measure.ProcessCpuMs() - c0; wall[v, part] += sw.Elapsed.TotalMilliseconds; }
                part++;
                return r;
            }
            net.train();
            var lv = Time(() => net.BackboneLevels.Forward(batch.Images));
            var feats = Time(() => net.Neck.call(lv));
            var outputs = Time(() => net.Rpn.Forward(feats));
            var sizes = feats.Select(f => (f.shape[2], f.shape[3])).ToArray();
            var (rc, rb) = Time(() => net.Rpn.Loss(outputs, sizes, batch.Metas, batch.Targets));
            var props = Time(() => net.Rpn.Proposals(outputs, sizes, batch.Metas, c.RpnPreNmsTrain, c.RpnNmsIou, c.RpnProposalsTrain));
            var roi = Time(() => net.Roi.Loss(feats.Take(feats.Count - 1).ToArray(), props.Select(p => p.Boxes).ToArray(), batch.Targets));
            Time(() =>
            {
                var loss = roi.Values.Aggregate(rc.Plus(rb), (a, b) => a.Plus(b));
                loss.backward();
                return 0;
            });
            net.zero_grad();
            var test = Enumerable.Range(0, 8).Select(k => pipeline.Test(data.Test.Get((s + 1) * 8 + k))).ToList();
            using var tb = DetectionBatch.Collate(test, data.Mean, data.Std, config.SizeDivisor);
            net.eval();
            Time(() => net.Predict(tb.Images, tb.Metas));
        }
        Console.WriteLine($"## det-step — {config.Model}, batch {batchSize} of {data.Train.Get(0).Height}² canvases, {TorchRuntime.Threads} threads; " +
                          $"ms per step (mean of {steps} after one warm-up)");
        Console.WriteLine();
        Console.WriteLine("| part | " + string.Join(" | ", configs.Select(c => $"{c.Name}: CPU ms | wall ms")) + " |");
        Console.WriteLine("|---|" + string.Concat(configs.Select(_ => "---:|---:|")));
        for (int i = 0; i <= parts.Length; i++)
        {
            var row = Enumerable.Range(0, configs.Count).Select(v =>
            {
                var range = i < parts.Length ? Enumerable.Range(i, 1) : Enumerable.Range(0, parts.Length - 1);
                return $"{range.Sum(k => cpu[v, k]) / steps:F0} | {range.Sum(k => wall[v, k]) / steps:F0}";
            });
            Console.WriteLine($"| {(i < parts.Length ? parts[i] : "training step (all but predict)")} | {string.Join(" | ", row)} |");
        }
        return 0;
    }

    static MaskRcnnConfig Override(MaskRcnnConfig c, string set)
    {
        foreach (var kv in set.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (k, v) = (kv.Split('=')[0], kv.Split('=')[1]);
            c = k switch
            {
                "RpnPreNmsTrain" => c with { RpnPreNmsTrain = int.Parse(v) },
                "RpnPreNmsTest" => c with { RpnPreNmsTest = int.Parse(v) },
                "RpnProposalsTrain" => c with { RpnProposalsTrain = int.Parse(v) },
                "RpnProposalsTest" => c with { RpnProposalsTest = int.Parse(v) },
                "RoiSamples" => c with { RoiSamples = int.Parse(v) },
                "RpnSamples" => c with { RpnSamples = int.Parse(v) },
                "MaxDetections" => c with { MaxDetections = int.Parse(v) },
                "ScoreThreshold" => c with { ScoreThreshold = double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"--set: unknown field '{k}'.", "set"),
            };
        }
        return c;
    }
}
