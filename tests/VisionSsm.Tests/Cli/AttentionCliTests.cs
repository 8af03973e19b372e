namespace VisionSsm.Tests.Cli;

[Collection(SerialTrainingCollection.Name)]
public class AttentionCliTests
{
    [Fact]
    public void Attention_writes_its_figures()
    {
        string data = CliHarness.WriteIdx(CliHarness.TempDir("idx"));
        string output = CliHarness.TempDir("attention");
        var r = CliHarness.Run("attention", "--model", "vmamba_nano", "--block", "3", "--query", "1,2", "--data", data,
            "--output", output, "--threads", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("query 1,2", r.Out);
        Assert.Contains("roll-out over blocks 2, 3", r.Out);
        Assert.True(File.Exists(Path.Combine(output, "attention_block3.png")));
        Assert.True(File.Exists(Path.Combine(output, "matrices_block3.png")));
    }

    [Fact]
    public void Attention_bad_input()
    {
        CliHarness.Fails(CliHarness.Run("attention", "--model", "vmamba_nano", "--block", "9", "--threads", "1"), "--block", "0..4");
        CliHarness.Fails(CliHarness.Run("attention", "--model", "vmamba_nano", "--query", "3", "--threads", "1"), "--query '3'", "row,col");
        CliHarness.Fails(CliHarness.Run("attention", "--model", "resnet_nano", "--threads", "1"), "no selective-scan mixer");
        CliHarness.Fails(CliHarness.Run("attention", "--model", "vmamba_nano_diagonal", "--threads", "1"), "Unknown model 'vmamba_nano_diagonal'", "vmamba_nano_bidi");
        CliHarness.Fails(CliHarness.Run("attention", "--threads", "1"), "--model");
        string broken = Path.Combine(CliHarness.TempDir("attention-bad"), "broken.png");
        File.WriteAllText(broken, "not a png");
        CliHarness.Fails(CliHarness.Run("attention", "--model", "vmamba_nano", "--image", broken, "--threads", "1"), "--image", "broken.png", "not a decodable image");
        // vgamba_nano's strided stages need a side divisible by their total stride.
        CliHarness.Fails(CliHarness.Run("attention", "--model", "vgamba_nano", "--size", "5", "--threads", "1"), "--size 5", "vgamba_nano");
    }

    [Fact]
    public void Eval_size_bad_input()
    {
        CliHarness.Fails(CliHarness.Run("eval", "--checkpoint", "/nonexistent/x.ckpt", "--size", "28,x"), "--size", "integers");
        CliHarness.Fails(CliHarness.Run("eval", "--checkpoint", "/nonexistent/x.ckpt", "--size", "28,0"), "--size 0", "positive");
    }
}
