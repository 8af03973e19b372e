using System.Globalization;
using TorchSharp.Modules;
using VisionSsm.Layers;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Bench;

/// <summary>
/// Where one Vim layer's time goes (BENCHMARKS.md "Vim and DeiT-S"): the pieces of one bidirectional mixer at a given model
/// width and token count, timed separately. Usage: <c>vim-profile [--dim 384] [--size 224 | --tokens 197] [--threads 1] [--rounds 20]</c>.
/// </summary>
public static class VimProfile
{
    public static void RegisterSuite() =>
        Suites.Register("vim-profile", "time the pieces of one Vim (bimamba v2) layer: projections, conv, scan", Run);

    static int Run(string[] args)
    {
        // --size S: the token count of an S² image (patch 16, plus the class token); --tokens overrides.
        int size = Measure.IntOption(args, "--size", 224);
        int dim = Measure.IntOption(args, "--dim", 384), tokens = Measure.IntOption(args, "--tokens", (size / 16) * (size / 16) + 1);
        TorchRuntime.SetThreads(Measure.IntOption(args, "--threads", 1));
        int rounds = Measure.IntOption(args, "--rounds", 20);
        var c = new MambaConfig(dim);
        using var _ = no_grad();
        using var mixer = new BiMamba(c);
        using var norm = new RmsNorm(dim);
        mixer.eval();
        var p = mixer.named_parameters().ToDictionary(kv => kv.name, kv => (Tensor)kv.parameter);
        using var x = randn(1, tokens, dim);
        using var xz = matmul(p["in_proj.weight"], x.transpose(1, 2));
        using var xs = xz.narrow(1, 0, c.DInner).contiguous();
        using var z = xz.narrow(1, c.DInner, c.DInner).contiguous();
        var conv = (Conv1d)mixer.named_children().First(m => m.name == "conv1d").module;
        var xProj = (Linear)mixer.named_children().First(m => m.name == "x_proj").module;
        using var xc = nn.functional.silu(conv.call(xs).narrow(2, 0, tokens)).contiguous();
        using var dbl = xProj.call(xc.transpose(1, 2));
        using var dt = matmul(p["dt_proj.weight"], dbl.narrow(2, 0, c.Rank).transpose(1, 2));
        using var bm = dbl.narrow(2, c.Rank, c.DState).transpose(1, 2).contiguous();
        using var cm = dbl.narrow(2, c.Rank + c.DState, c.DState).transpose(1, 2).contiguous();
        using var a = -exp(p["A_log"]);
        using var xzView = Mamba.InProjection(Lin(mixer, "in_proj"), x);
        using var xzRows = nn.functional.linear(x, p["in_proj.weight"]);
        using var xzT = xzRows.transpose(1, 2).contiguous();
        var (u2, z2) = BiCausalConv.Prepare(xzRows, p["conv1d.weight"], p["conv1d.bias"], p["conv1d_b.weight"], p["conv1d_b.bias"]);
        using var dbl2 = matmul(stack([p["x_proj.weight"], p["x_proj_b.weight"]]), u2.view(1, 2, c.DInner, tokens));
        using var dt2 = matmul(stack([p["dt_proj.weight"], p["dt_proj_b.weight"]]), dbl2.narrow(2, 0, c.Rank)).view(1, 2 * c.DInner, tokens);
        using var a2 = -exp(cat([p["A_log"], p["A_b_log"]], 0));
        using var d2 = cat([p["D"], p["D_b"]], 0);
        using var bias2 = cat([p["dt_proj.bias"], p["dt_proj_b.bias"]], 0);
        using var xT = x.transpose(1, 2).contiguous();
        using var w4 = p["in_proj.weight"].unsqueeze(2).contiguous();
        using var xT4 = xT.unsqueeze(2).contiguous();
        using var w4x = p["in_proj.weight"].unsqueeze(2).unsqueeze(3).contiguous();
        using var xCl = ChannelsLast.To(xT4);
        using var g4 = randn(1, 1024, 1, 1024);
        using var gw = randn(1024, 1024, 1, 1);
        using var g1 = randn(1024, 1024);
        using var g2 = randn(1024, 1024);
        var rows = new (string, Action)[]
        {
            ("reference: GEMM 1024³ (2.15 GFLOP)", () => mm(g1, g2)),
            ("probe: in_proj as conv1d 1×1 on (1, D, L)", () => nn.functional.conv1d(xT, w4)),
            ("probe: in_proj as conv2d 1×1 on (1, D, 1, L)", () => nn.functional.conv2d(xT4, w4x)),
            ("probe: in_proj as conv2d 1×1 channels-last", () => nn.functional.conv2d(xCl, w4x)),
            ("probe: GEMM 1024³ as conv2d 1×1", () => nn.functional.conv2d(g4, gw)),
            ("rmsnorm", () => norm.call(x)),
            ("Mamba.Mixer, contiguous x, z", () => Mamba.Mixer(xs, z, conv, xProj, Lin(mixer, "dt_proj"), p["A_log"], p["D"], c.Rank, c.DState)),
            ("Mamba.Mixer, backward-direction parameters", () => Mamba.Mixer(xs, z, Conv(mixer, "conv1d_b"), Lin(mixer, "x_proj_b"), Lin(mixer, "dt_proj_b"), p["A_b_log"], p["D_b"], c.Rank, c.DState)),
            ("Mamba.Mixer, x, z views of in_proj", () => Mamba.Mixer(xzView.narrow(1, 0, c.DInner), xzView.narrow(1, c.DInner, c.DInner), conv, xProj, Lin(mixer, "dt_proj"), p["A_log"], p["D"], c.Rank, c.DState)),
            ("conv1d + silu, view input", () => nn.functional.silu(conv.call(xzView.narrow(1, 0, c.DInner)).narrow(2, 0, tokens))),
            ("in_proj (matmul W·xᵀ)", () => matmul(p["in_proj.weight"], x.transpose(1, 2))),
            ("in_proj (linear, transposed view)", () => nn.functional.linear(x, p["in_proj.weight"]).transpose(1, 2)),
            ("in_proj (Mamba.InProjection)", () => Mamba.InProjection((Linear)mixer.named_children().First(m => m.name == "in_proj").module, x)),
            ("conv1d + silu (one direction)", () => nn.functional.silu(conv.call(xs).narrow(2, 0, tokens))),
            ("x_proj (one direction)", () => xProj.call(xc.transpose(1, 2))),
            ("dt_proj (one direction)", () => matmul(p["dt_proj.weight"], dbl.narrow(2, 0, c.Rank).transpose(1, 2))),
            ("selective scan (one direction)", () => SelectiveScan.Apply(xc, dt, a, bm, cm, p["D"], z, p["dt_proj.bias"], true)),
            ("flip x, z, y (backward direction)", () => { xs.flip(2); z.flip(2); xc.flip(2); }),
            ("out_proj", () => nn.functional.linear(xc.transpose(1, 2), p["out_proj.weight"])),
            ("whole mixer (BiMamba.forward, fused path)", () => mixer.call(x)),
            ("whole mixer (BiMamba.forward, module path)", () => { using (Runtime.KernelOptions.Use(Runtime.KernelOptions.Current with { FusedMamba = false })) mixer.call(x); }),
            ("fused: in_proj (linear)", () => nn.functional.linear(x, p["in_proj.weight"])),
            ("fused: BiCausalConv.Prepare", () => BiCausalConv.Prepare(xzRows, p["conv1d.weight"], p["conv1d.bias"], p["conv1d_b.weight"], p["conv1d_b.bias"])),
            ("fused: BiCausalConv.PrepareReference", () => BiCausalConv.PrepareReference(xzRows, p["conv1d.weight"], p["conv1d.bias"], p["conv1d_b.weight"], p["conv1d_b.bias"])),
            ("fused: x_proj both (stacked matmul)", () => matmul(stack([p["x_proj.weight"], p["x_proj_b.weight"]]), u2.view(1, 2, c.DInner, tokens))),
            ("probe: x_proj both as bmm (batch 1)", () => bmm(stack([p["x_proj.weight"], p["x_proj_b.weight"]]), u2.view(2, c.DInner, tokens))),
            ("probe: x_proj as two mm", () => { mm(p["x_proj.weight"], u2.view(2 * c.DInner, tokens).narrow(0, 0, c.DInner)); mm(p["x_proj_b.weight"], u2.view(2 * c.DInner, tokens).narrow(0, c.DInner, c.DInner)); }),
            ("probe: stack x_proj weights", () => stack([p["x_proj.weight"], p["x_proj_b.weight"]])),
            ("probe: dt_proj both as bmm (batch 1)", () => bmm(stack([p["dt_proj.weight"], p["dt_proj_b.weight"]]), dbl2.view(2, -1, tokens).narrow(1, 0, c.Rank))),
            ("fused: dt_proj both (stacked matmul)", () => matmul(stack([p["dt_proj.weight"], p["dt_proj_b.weight"]]), dbl2.narrow(2, 0, c.Rank))),
            ("fused: scan over 2Di channels, G = 2", () => SelectiveScan.Apply(u2, dt2, a2, dbl2.narrow(2, c.Rank, c.DState), dbl2.narrow(2, c.Rank + c.DState, c.DState), d2, z2, bias2, true)),
            ("fused: Merge", () => BiCausalConv.Merge(u2, 0.5)),
            ("gemm: in_proj (Gemm.Linear)", () => Gemm.Linear(x, p["in_proj.weight"])),
            ("gemm: in_proj channel-major (Gemm.MatMul on xᵀ, incl. the transposed copy)", () => Gemm.MatMul(p["in_proj.weight"], x.transpose(1, 2))),
            ("fused: BiCausalConvChannelMajor.Prepare", () => BiCausalConvChannelMajor.Prepare(xzT, p["conv1d.weight"], p["conv1d.bias"], p["conv1d_b.weight"], p["conv1d_b.bias"])),
            ("gemm: x_proj both (Gemm.MatMul)", () => Gemm.MatMul(stack([p["x_proj.weight"], p["x_proj_b.weight"]]), u2.view(1, 2, c.DInner, tokens))),
            ("gemm: dt_proj both (Gemm.MatMul)", () => Gemm.MatMul(stack([p["dt_proj.weight"], p["dt_proj_b.weight"]]), dbl2.narrow(2, 0, c.Rank))),
            ("gemm: out_proj on merged (Gemm.Linear, copies the transposed view)", () => Gemm.Linear(xc.transpose(1, 2), p["out_proj.weight"])),
            ("probe: copy of merged, transposed to token-major", () => xc.transpose(1, 2).contiguous()),
            ("probe: out_proj as Gemm.MatMul (channel-major) + transposed copy", () => Gemm.MatMul(p["out_proj.weight"], xc).transpose(1, 2).contiguous()),
            ("gemm: out_proj (Gemm.LinearChannelMajor on merged)", () => Gemm.LinearChannelMajor(xc, p["out_proj.weight"])),
            ("fused: weight stacks/cats per call (x_proj, dt_proj, A, D, dt bias)", () =>
            {
                stack([p["x_proj.weight"], p["x_proj_b.weight"]]); stack([p["dt_proj.weight"], p["dt_proj_b.weight"]]);
                exp(cat([p["A_log"], p["A_b_log"]], 0)).neg_(); cat([p["D"], p["D_b"]], 0); cat([p["dt_proj.bias"], p["dt_proj_b.bias"]], 0);
            }),
            ("fused: out_proj on merged (transposed view)", () => nn.functional.linear(xc.transpose(1, 2), p["out_proj.weight"])),
            ("replica: in_proj + chunk", () => Mamba.InProjection(Lin(mixer, "in_proj"), x).chunk(2, 1)),
            ("replica: forward direction", () => { var q = Mamba.InProjection(Lin(mixer, "in_proj"), x).chunk(2, 1); Mamba.Mixer(q[0], q[1], conv, xProj, Lin(mixer, "dt_proj"), p["A_log"], p["D"], c.Rank, c.DState); }),
            ("replica: backward direction", () => { var q = Mamba.InProjection(Lin(mixer, "in_proj"), x).chunk(2, 1); Mamba.Mixer(q[0].flip(2), q[1].flip(2), Conv(mixer, "conv1d_b"), Lin(mixer, "x_proj_b"), Lin(mixer, "dt_proj_b"), p["A_b_log"], p["D_b"], c.Rank, c.DState); }),
            ("replica: both + out_proj", () =>
            {
                var q = Mamba.InProjection(Lin(mixer, "in_proj"), x).chunk(2, 1);
                var f = Mamba.Mixer(q[0], q[1], conv, xProj, Lin(mixer, "dt_proj"), p["A_log"], p["D"], c.Rank, c.DState);
                var b = Mamba.Mixer(q[0].flip(2), q[1].flip(2), Conv(mixer, "conv1d_b"), Lin(mixer, "x_proj_b"), Lin(mixer, "dt_proj_b"), p["A_b_log"], p["D_b"], c.Rank, c.DState);
                Lin(mixer, "out_proj").call(((f + b.flip(2)) / 2).transpose(1, 2));
            }),
        };
        Console.WriteLine($"one Vim layer, D {dim}, {tokens} tokens, {TorchRuntime.Threads} thread(s), float32; " +
            $"rows run round-robin for {rounds} rounds, fastest run reported (robust to load from other processes)");
        if (args.Contains("--mixer-only"))
        {
            // Peak memory of the mixer alone: RSS before, after one call.
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RSS before {Measure.PeakRssMiB():F0} MiB"));
            using (NewDisposeScope()) mixer.call(x);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak RSS after one mixer call {Measure.PeakRssMiB():F0} MiB"));
            return 0;
        }
        var best = Enumerable.Repeat(double.MaxValue, rows.Length).ToArray();
        var bestCpu = Enumerable.Repeat(double.MaxValue, rows.Length).ToArray();
        for (int round = 0; round < rounds + 3; round++)
            for (int i = 0; i < rows.Length; i++)
            {
                using var scope = NewDisposeScope();
                double cpu0 = Measure.ProcessCpuMs();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                rows[i].Item2();
                double ms = sw.Elapsed.TotalMilliseconds, cpu = Measure.ProcessCpuMs() - cpu0;
                if (round >= 3) { best[i] = Math.Min(best[i], ms); bestCpu[i] = Math.Min(bestCpu[i], cpu); }
            }
        Console.WriteLine();
        Console.WriteLine("| piece | ms (fastest wall) | process CPU ms (least) |");
        Console.WriteLine("|---|---|---|");
        for (int i = 0; i < rows.Length; i++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {rows[i].Item1} | {best[i]:F2} | {bestCpu[i]:F2} |"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak RSS {Measure.PeakRssMiB():F0} MiB"));
        return 0;
    }

    static Conv1d Conv(BiMamba m, string name) => (Conv1d)m.named_children().First(c => c.name == name).module;
    static Linear Lin(BiMamba m, string name) => (Linear)m.named_children().First(c => c.name == name).module;

}
