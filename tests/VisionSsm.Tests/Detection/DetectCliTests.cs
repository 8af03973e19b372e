using VisionSsm.Detection.Data;
using VisionSsm.Segmentation.Data;
using VisionSsm.Tests.Cli;
using VisionSsm.Tests.Detection.Training;
using VisionSsm.Tests.Segmentation.Data;

namespace VisionSsm.Tests.Detection;

/// <summary>`vssm detect train|eval|predict` end to end on tiny on-disk COCO data, and its bad-input errors.</summary>
[Collection(SerialTrainingCollection.Name)]
public class DetectCliTests
{
    static DetectCliTests() => FakeDetector.Register();

    static readonly string[] Tiny = ["--model", FakeDetector.Name, "--warmup-iters", "1", "--log-interval", "1", "--scale", "48,48"];

    static CliHarness.Outcome Run(params string[] args) => CliHarness.Run([.. args, "--threads", "1"]);

    /// <summary>Composed canvases (the test's own Fashion-MNIST stand-in) written as a COCO folder.</summary>
    static string Canvases(string dir)
    {
        string fm = Path.Combine(dir, "fm");
        Directory.CreateDirectory(fm);
        CanvasFixture.Write(fm);
        string root = Path.Combine(dir, "coco");
        DetectionCanvasWriter.Write(root, new DetectionCanvasOptions
        {
            Canvas = new CanvasOptions { Size = 40, MinItems = 1, MaxItems = 3, MinScale = 0.8, MaxScale = 1.2, TrainCount = 6, TestCount = 4 },
        }, fm);
        return root;
    }

    [Fact]
    public void Train_resume_eval_predict_on_coco_files()
    {
        string dir = CliHarness.TempDir("det-cli");
        string data = Canvases(dir);
        string run = Path.Combine(dir, "run");
        var first = Run(["detect", "train", "--data", data, "--epochs", "2", "--eval-interval", "1", "--max-steps", "3", "-o", run, "--batch-size", "2", .. Tiny]);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("eval @ epoch 1 (iter 3)", first.Out);   // 6 images / batch 2 = 3 iterations per epoch
        Assert.Contains("stopped after 3 iterations", first.Out);
        foreach (var f in new[] { "config.json", "metrics.jsonl", "curves.png", "predictions.png", "detections.json", "last.ckpt", "best.ckpt" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);

        CliHarness.Fails(Run("detect", "train", "--resume", run, "--lr", "0.1"), "--lr cannot change on --resume");

        var resumed = Run("detect", "train", "--resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("eval @ epoch 2 (iter 6)", resumed.Out);
        Assert.Contains("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]", resumed.Out);
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal(2, rows.Length);
        Assert.Contains("\"Iteration\":6", rows[1]);

        string results = Path.Combine(dir, "results.json");
        var eval = Run("detect", "eval", "-c", Path.Combine(run, "last.ckpt"), "--data", data, "--results", results);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains("4 images", eval.Out);
        Assert.Contains("segm", eval.Out);
        var gt = VisionSsm.Detection.Coco.CocoDataset.Load(Path.Combine(data, "annotations", "instances_test.json"));
        var dets = VisionSsm.Detection.Coco.CocoResults.Load(results, gt);
        Assert.Equal(4 * 3, dets.Count);   // the fake returns 3 detections per image
        Assert.All(dets, d => Assert.NotNull(d.Mask));

        string image = Path.Combine(data, "test", "00000.png");
        string outDir = Path.Combine(dir, "pred");
        var predict = Run("detect", "predict", image, "-c", Path.Combine(run, "best.ckpt"), "-o", outDir, "--score-threshold", "0");
        Assert.True(predict.ExitCode == 0, predict.ToString());
        var drawn = VisionSsm.Data.ImageDecoder.Decode(Path.Combine(outDir, "00000_det.png"));
        Assert.Equal((3, 400, 400), (drawn.Channels, drawn.Height, drawn.Width));   // 40 px enlarged ×10 to reach 384
        Assert.Contains("3 detections", predict.Out);
    }

    /// <summary>
    /// The real small detector of the default (not the fake): three steps and an evaluation on tiny canvases, so the
    /// default's model, losses, proposals and mask pasting run end to end through the CLI.
    /// </summary>
    [Fact]
    public void Train_runs_the_real_nano_detector_on_tiny_canvases()
    {
        string dir = CliHarness.TempDir("det-nano");
        string data = Canvases(dir);
        string run = Path.Combine(dir, "run");
        var r = Run("detect", "train", "--data", data, "--model", "maskrcnn_vmamba_nano", "--epochs", "1", "--batch-size", "2", "--scale", "40,40",
            "--warmup-iters", "1", "--log-interval", "1", "-o", run);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("training maskrcnn_vmamba_nano (", r.Out);
        Assert.Contains("epoch 1 iter 3/3 loss", r.Out);
        Assert.DoesNotContain("NaN", r.Out);
        Assert.Contains("eval @ epoch 1 (iter 3)", r.Out);
        var gt = VisionSsm.Detection.Coco.CocoDataset.Load(Path.Combine(data, "annotations", "instances_test.json"));
        var dets = VisionSsm.Detection.Coco.CocoResults.Load(Path.Combine(run, "detections.json"), gt);
        // The small head keeps at most 20 detections per image, each with a mask of its image's size.
        Assert.All(dets.GroupBy(d => d.ImageId), g => Assert.InRange(g.Count(), 0, 20));
        Assert.All(dets, d => Assert.NotNull(d.Mask));
        Assert.True(File.Exists(Path.Combine(run, "best.ckpt")));
    }

    /// <summary>A one-image-per-split COCO folder with <paramref name="trainJson"/> as the training file (test: one valid object).</summary>
    static string Folder(string dir, string name, string trainJson)
    {
        string root = Path.Combine(dir, name);
        foreach (var split in new[] { "train", "val" })
        {
            Directory.CreateDirectory(Path.Combine(root, split));
            VisionSsm.Data.ImageDecoder.Save(new VisionSsm.Data.ImageSample(new float[20 * 30], 1, 20, 30, 0), Path.Combine(root, split, "a.png"));
        }
        Directory.CreateDirectory(Path.Combine(root, "annotations"));
        File.WriteAllText(Path.Combine(root, "annotations", "instances_train.json"), trainJson);
        File.WriteAllText(Path.Combine(root, "annotations", "instances_val.json"), Json("[2, 3, 10, 8]"));
        return root;
    }

    static string Json(string box, int category = 5, string annotations = "") =>
        "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"width\": 30, \"height\": 20}], \"categories\": [{\"id\": 5, \"name\": \"thing\"}]," +
        (annotations.Length > 0 ? annotations : $"\"annotations\": [{{\"id\": 1, \"image_id\": 1, \"category_id\": {category}, \"bbox\": {box}, \"area\": 40, \"iscrowd\": 0, " +
                                                 $"\"segmentation\": [[2, 3, 12, 3, 12, 11, 2, 11]]}}]") + "}";

    [Fact]
    public void Bad_inputs_give_clear_errors()
    {
        string dir = CliHarness.TempDir("det-bad");
        CliHarness.Outcome Train(string folder, params string[] extra) =>
            Run(["detect", "train", "--data", folder, "--epochs", "1", "-o", Path.Combine(dir, "run-" + Path.GetFileName(folder)), .. Tiny, "--batch-size", "1", .. extra]);

        var outside = Folder(dir, "outside", Json("[25, 3, 10, 8]"));
        CliHarness.Fails(Train(outside), "annotation 1", "reaches outside image 1", "--box-policy clip");
        var gone = Folder(dir, "gone", Json("[40, 30, 5, 5]"));
        CliHarness.Fails(Train(gone, "--box-policy", "clip"), "no image has an annotated object");
        CliHarness.Fails(Train(Folder(dir, "empty", Json("", annotations: "\"annotations\": []"))), "instances_train.json", "no image has an annotated object");
        CliHarness.Fails(Train(Folder(dir, "malformed", "{\"images\": [")), "instances_train.json");
        CliHarness.Fails(Train(Folder(dir, "category", Json("[2, 3, 10, 8]", category: 9))), "unknown category_id 9");
        CliHarness.Fails(Train(Path.Combine(dir, "missing")), "does not exist");
        var noAnn = Path.Combine(dir, "noann");
        Directory.CreateDirectory(noAnn);
        CliHarness.Fails(Train(noAnn), "no annotations/ folder");
        CliHarness.Fails(Run(["detect", "train", "--data", outside, "--model", "no_such_detector", "-o", Path.Combine(dir, "r")]), "unknown detector");
        CliHarness.Fails(Run(["detect", "train", "--data", outside, "--scale", "96", "-o", Path.Combine(dir, "r")]), "--scale '96'");
        CliHarness.Fails(Run(["detect", "train", "--data", outside, "--box-policy", "maybe", "-o", Path.Combine(dir, "r")]), "--box-policy 'maybe'");
        CliHarness.Fails(Run("detect", "eval", "-c", Path.Combine(dir, "none.ckpt")), "does not exist");
    }
}
