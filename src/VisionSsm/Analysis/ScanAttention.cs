using TorchSharp;
using VisionSsm.Layers;
using VisionSsm.Models;
using VisionSsm.Ops;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Analysis;

/// <summary>One scan route of a mixer: which captured call, which channels, and for each sequence position the
/// row-major pixel it reads (−1 for a token that is no pixel, e.g. Vim's class token).</summary>
public sealed record ScanRoute(string Name, int Call, long ChannelStart, long ChannelCount, long[] PixelOf);

/// <summary>A selective-scan mixer of a model (SS2D, Vim's BiMamba, vGamba's Gamba cell), numbered in module order.</summary>
public sealed record ScanMixer(int Index, string Name, string Kind);

/// <summary>The implicit-attention maps of one mixer (all (P, P) or (h, w), float64 on the CPU, P = h·w pixels).</summary>
public sealed class MixerAttention : IDisposable
{
    public required ScanMixer Mixer { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    /// <summary>Per route: the channel-mean M mapped to pixel order, min-max normalised to [0, 1].</summary>
    public required IReadOnlyList<(string Name, Tensor Map)> Routes { get; init; }
    /// <summary>The routes' mapped (unnormalised) matrices summed, then min-max normalised (the official "all" map).</summary>
    public required Tensor Combined { get; init; }
    /// <summary>‖M u‖ / ‖D ⊙ u‖ over the mixer's scan calls on this input (<see cref="ScanMatrix.MixingNorms"/>); NaN when
    /// not computed.</summary>
    public double MixingRatio { get; init; } = double.NaN;

    public void Dispose()
    {
        foreach (var (_, m) in Routes) m.Dispose();
        Combined.Dispose();
    }
}

/// <summary>What <see cref="ScanAttention.Compute"/> returns: the chosen block's maps and the roll-out.</summary>
public sealed class ScanAttentionResult : IDisposable
{
    public required MixerAttention Block { get; init; }
    /// <summary>Roll-out over the mixers of the block's resolution up to and including it: Π (row-normalised ½(A + I)).</summary>
    public required Tensor Rollout { get; init; }
    /// <summary>The mixers the roll-out multiplied, in order.</summary>
    public required IReadOnlyList<ScanMixer> RolloutMixers { get; init; }
    public required (int Row, int Col) Query { get; init; }

    /// <summary>The query pixel's row of <paramref name="matrix"/> as an (h, w) map.</summary>
    public double[,] QueryMap(Tensor matrix) => ScanAttention.ToGrid(matrix[Query.Row * Block.Width + Query.Col], Block.Height, Block.Width);

    /// <summary>The diagonal of the combined map as an (h, w) heat map (VMamba Fig. 5(c)).</summary>
    public double[,] Diagonal() => ScanAttention.ToGrid(Block.Combined.diagonal(), Block.Height, Block.Width);

    public void Dispose()
    {
        Block.Dispose();
        Rollout.Dispose();
    }
}

/// <summary>
/// The selective scan's implicit attention (VMamba §3 "Activation Map Visualization", Figs. 4–7; official
/// <c>analyze/attnmap.py</c>): run the model once with a <see cref="ScanCapture"/> open, take each mixer's scan
/// inputs, form M (<see cref="ScanMatrix"/>), average it over each route's channels, map each route back to
/// row-major pixel order, normalise and combine; and roll the maps out over the blocks of one resolution.
/// docs/analysis.md "Implicit attention of the scan" gives the definitions.
/// </summary>
public static class ScanAttention
{
    /// <summary>The model's selective-scan mixers in module order (the numbering of <c>--block</c>).</summary>
    public static IReadOnlyList<ScanMixer> Mixers(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return MixerModules(model).Select((m, i) => new ScanMixer(i, m.Name, m.Kind)).ToList();
    }

    /// <summary>
    /// Throws unless <paramref name="model"/> has a selective-scan mixer numbered <paramref name="block"/>; callers
    /// check this before loading an input so a bad <c>--block</c> is named first.
    /// </summary>
    public static void CheckBlock(nn.Module model, int block)
    {
        var mixers = Mixers(model);
        if (mixers.Count == 0)
            throw new ArgumentException($"model '{model.GetType().Name}' has no selective-scan mixer (SS2D, BiMamba or GambaCell); " +
                                        "the scan's attention exists only for VMamba, Vim and vGamba.", nameof(model));
        if (block < 0 || block >= mixers.Count)
            throw new ArgumentOutOfRangeException(nameof(block), block, $"--block: expected a mixer index 0..{mixers.Count - 1} " +
                $"(this model has {mixers.Count}: {string.Join(", ", mixers.Select(m => $"{m.Index} {m.Name}"))}).");
    }

    static List<(string Name, string Kind, nn.Module<Tensor, Tensor> Module)> MixerModules(nn.Module model)
    {
        var list = new List<(string, string, nn.Module<Tensor, Tensor>)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is SS2D ss2d) list.Add((name, $"SS2D ({ScanPatterns.Name(ss2d.Config.Pattern)})", ss2d));
            else if (module is BiMamba bi) list.Add((name, "BiMamba", bi));
            else if (module is GambaCell cell) list.Add((name, "GambaCell", cell));
        }
        return list;
    }

    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="image"/> (1, C, H, W) and computes the maps of mixer
    /// <paramref name="block"/> for query pixel <paramref name="query"/> (row, column on the block's grid; null: centre)
    /// and the roll-out. <paramref name="progress"/> receives (fraction done, what).
    /// </summary>
    public static ScanAttentionResult Compute(VisionModel model, Tensor image, int block, (int Row, int Col)? query = null,
        Action<double, string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        CheckBlock(model, block);
        var mixers = MixerModules(model);
        if (image.dim() != 4 || image.shape[0] != 1)
            throw new ArgumentException($"image must be (1, C, H, W); got {ScanArguments.Fmt(image.shape)}.", nameof(image));
        var mixer = mixers[block];

        var calls = new (int Start, int End, long[] Shape)[mixers.Count];
        var hooks = new List<Action>();
        progress?.Invoke(0, "forward pass");
        // The module paths, serially: one scan call per route group in a fixed order (the fused mixers and the
        // inter-op split compute the same math in other layouts).
        using var kernels = KernelOptions.Use(KernelOptions.Current with { FusedMamba = false, InterOp = false });
        using var capture = ScanCapture.Start();
        bool wasTraining = model.training;
        List<CapturedScan> scans;
        try
        {
            for (int i = 0; i < mixers.Count; i++)
            {
                int index = i;
                var pre = mixers[i].Module.register_forward_pre_hook((_, input) =>
                {
                    calls[index] = (capture.Scans.Count, -1, input.shape);
                    return input;
                });
                var post = mixers[i].Module.register_forward_hook((_, _, output) =>
                {
                    calls[index].End = capture.Scans.Count;
                    return output;
                });
                hooks.Add(pre.remove);
                hooks.Add(post.remove);
            }
            model.eval();
            using var noGrad = no_grad();
            using (NewDisposeScope()) model.call(image);
            scans = capture.Take();
        }
        finally
        {
            foreach (var remove in hooks) remove();
            if (wasTraining) model.train();
        }

        try
        {
            if (calls[block].Shape is null) throw new InvalidOperationException($"{mixer.Name} did not run in the forward pass.");
            var (h, w) = GridOf(model, mixer.Module, calls[block].Shape);
            // The roll-out: mixers of the same grid up to the chosen one (one stage of VMamba; all blocks of Vim).
            var group = Enumerable.Range(0, block + 1)
                .Where(i => calls[i].Shape is not null && GridOf(model, mixers[i].Module, calls[i].Shape) == (h, w))
                .ToList();
            var q = query ?? (h / 2, w / 2);
            if (q.Item1 < 0 || q.Item1 >= h || q.Item2 < 0 || q.Item2 >= w)
                throw new ArgumentOutOfRangeException(nameof(query), $"--query {q.Item1},{q.Item2}: expected a row 0..{h - 1} and a column 0..{w - 1} on block {block}'s {h}×{w} grid.");

            // Progress in channels of M formed (a cascade mixer: its four routes, then the composite's channels).
            long Work(int i) => IsCascade(mixers[i].Module, out var di) ? 5 * di
                : Routes(model, mixers[i].Module, calls[i], scans, h, w).Sum(r => r.ChannelCount);
            long totalChannels = group.Sum(Work);
            long done = 0;
            Tensor? rollout = null;
            MixerAttention? chosen = null;
            foreach (int i in group)
            {
                var info = new ScanMixer(i, mixers[i].Name, mixers[i].Kind);
                long before = done;
                void Report(long c) => progress?.Invoke((double)(before + c) / totalChannels, $"block {i} ({mixers[i].Name})");
                var att = IsCascade(mixers[i].Module, out _)
                    ? CascadeMaps(info, calls[i], scans, h, w, Report)
                    : Maps(info, Routes(model, mixers[i].Module, calls[i], scans, h, w), scans, h, w, Report);
                done = before + Work(i);
                using (var scope = NewDisposeScope())
                {
                    long p = (long)h * w;
                    var step = att.Combined.Plus(eye(p, dtype: ScalarType.Float64)).Times(0.5);
                    step = step / step.sum(1, keepdim: true);                                      // row-normalised ½(A + I)
                    var next = rollout is null ? step : matmul(step, rollout);
                    rollout?.Dispose();
                    rollout = next.MoveToOuterDisposeScope();
                }
                if (i == block)
                {
                    double mix = 0, skip = 0;
                    for (int c = calls[i].Start; c < calls[i].End; c++)
                    {
                        var (m, d) = ScanMatrix.MixingNorms(scans[c]);
                        mix += m * m;
                        skip += d * d;
                    }
                    chosen = new MixerAttention
                    {
                        Mixer = att.Mixer, Height = att.Height, Width = att.Width, Routes = att.Routes, Combined = att.Combined,
                        MixingRatio = Math.Sqrt(mix) / Math.Sqrt(skip),
                    };
                }
                else att.Dispose();
            }
            progress?.Invoke(1, "done");
            return new ScanAttentionResult
            {
                Block = chosen!,
                Rollout = rollout!,
                RolloutMixers = group.Select(i => new ScanMixer(i, mixers[i].Name, mixers[i].Kind)).ToList(),
                Query = q,
            };
        }
        finally
        {
            foreach (var s in scans) s.Dispose();
        }
    }

    /// <summary>The pixel grid a mixer works on, from its input: SS2D (B, C, h, w); Gamba cell (B, c, S, S); Vim's
    /// BiMamba (B, L, D) with L = g² + 1 tokens.</summary>
    static (int, int) GridOf(nn.Module model, nn.Module mixer, long[] inputShape)
    {
        switch (mixer)
        {
            case SS2D or GambaCell: return ((int)inputShape[2], (int)inputShape[3]);
            case BiMamba when model is Vim vim: return (vim.Config.GridSize, vim.Config.GridSize);
            default: throw new NotSupportedException($"{mixer.GetType().Name} inside {model.GetType().Name}: no known token-to-pixel layout.");
        }
    }

    static bool IsCascade(nn.Module mixer, out long di)
    {
        bool cascade = mixer is SS2D { Config.Pattern: ScanPattern.Cascade };
        di = cascade ? ((SS2D)mixer).Config.DInner : 0;
        return cascade;
    }

    /// <summary>A cascade SS2D's maps (<see cref="CascadeAttention"/>): its two calls (rows, then columns) give the four
    /// routes' matrices; the combined map is the channel mean of the two passes' composite, min-max normalised.</summary>
    static MixerAttention CascadeMaps(ScanMixer mixer, (int Start, int End, long[] Shape) call, List<CapturedScan> scans,
        int h, int w, Action<long> progress)
    {
        if (call.End - call.Start != 2)
            throw new InvalidOperationException($"cascade SS2D {mixer.Name} made {call.End - call.Start} selective-scan calls; expected 2.");
        var (rows, cols) = (scans[call.Start], scans[call.Start + 1]);
        long di = rows.Channels / 2;
        string[] names = ["route 0: rows", "route 1: rows reversed", "route 2: columns", "route 3: columns reversed"];
        var maps = new List<(string, Tensor)>();
        for (int k = 0; k < 4; k++)
        {
            int route = k;
            long lines = route < 2 ? rows.Batch : cols.Batch;
            using var mean = CascadeAttention.RouteMean(rows, cols, route, n => progress(route * di + di * n / lines));
            maps.Add((names[route], MinMax(mean)));
        }
        using var composite = CascadeAttention.CompositeMean(rows, cols, c => progress(4 * di + c));
        return new MixerAttention { Mixer = mixer, Height = h, Width = w, Routes = maps, Combined = MinMax(composite) };
    }

    /// <summary>The routes of one mixer's scan calls (docs/analysis.md "Implicit attention of the scan").</summary>
    static List<ScanRoute> Routes(nn.Module model, nn.Module mixer, (int Start, int End, long[] Shape) call, List<CapturedScan> scans,
        int h, int w)
    {
        int calls = call.End - call.Start;
        long l = (long)h * w;
        long[] Identity() => Enumerable.Range(0, (int)l).Select(i => (long)i).ToArray();
        long[] Reversed(long[] a) => a.Reverse().ToArray();
        switch (mixer)
        {
            case SS2D ss2d:
            {
                Expect(calls, 1, ss2d);
                var sources = ScanRoutes.Sources(ss2d.Config.Pattern, h, w);
                long di = ss2d.Config.DInner;
                string[] names = ss2d.Config.Pattern switch
                {
                    ScanPattern.Cross => ["row-major", "column-major", "row-major reversed", "column-major reversed"],
                    ScanPattern.Bidirectional => ["row-major", "row-major (2)", "row-major reversed", "row-major reversed (2)"],
                    _ => ["row-major", "row-major (2)", "row-major (3)", "row-major (4)"],
                };
                return Enumerable.Range(0, ScanRoutes.Count)
                    .Select(k => new ScanRoute($"route {k}: {names[k]}", call.Start, k * di, di, sources[k])).ToList();
            }
            case BiMamba:
            {
                Expect(calls, 2, mixer);
                var vim = (Vim)model;
                long tokens = l + 1, mid = vim.Config.ClsIndex;
                // Token order: patches in raster order with the class token inserted at M/2 (docs/models/vim.md §2).
                var forward = Enumerable.Range(0, (int)tokens).Select(t => t < mid ? t : t == mid ? -1L : t - 1L).ToArray();
                long di = scans[call.Start].Channels;
                return [new("forward", call.Start, 0, di, forward), new("backward", call.Start + 1, 0, di, Reversed(forward))];
            }
            case GambaCell cell:
            {
                Expect(calls, cell.Options.Bidirectional ? 2 : 1, mixer);
                long di = scans[call.Start].Channels;
                var routes = new List<ScanRoute> { new("raster", call.Start, 0, di, Identity()) };
                if (cell.Options.Bidirectional) routes.Add(new("raster reversed", call.Start + 1, 0, di, Reversed(Identity())));
                return routes;
            }
            default: throw new NotSupportedException(mixer.GetType().Name);
        }
    }

    static void Expect(int calls, int expected, nn.Module mixer)
    {
        if (calls != expected)
            throw new InvalidOperationException($"{mixer.GetType().Name} made {calls} selective-scan calls; expected {expected}.");
    }

    /// <summary>Per-route channel-mean M in pixel order, normalised, and the combined map.</summary>
    public static MixerAttention Maps(ScanMixer mixer, IReadOnlyList<ScanRoute> routes, IReadOnlyList<CapturedScan> scans,
        int h, int w, Action<long>? progress = null)
    {
        long p = (long)h * w, done = 0;
        var maps = new List<(string, Tensor)>();
        var sum = zeros(new[] { p, p }, dtype: ScalarType.Float64);
        foreach (var route in routes)
        {
            long before = done;
            using var mean = ScanMatrix.Mean(scans[route.Call], 0, route.ChannelStart, route.ChannelCount, c => progress?.Invoke(before + c));
            done += route.ChannelCount;
            using var mapped = ToPixelOrder(mean, route.PixelOf, p);
            sum.PlusInPlace(mapped);
            maps.Add((route.Name, MinMax(mapped)));
        }
        var combined = MinMax(sum);
        sum.Dispose();
        return new MixerAttention { Mixer = mixer, Height = h, Width = w, Routes = maps, Combined = combined };
    }

    /// <summary>
    /// Re-indexes a scan-order matrix (L, L) to pixel order (P, P): out[pixelOf[t], pixelOf[s]] = m[t, s], dropping
    /// positions that are no pixel. Throws unless the pixels are a permutation of 0..P−1.
    /// </summary>
    public static Tensor ToPixelOrder(Tensor m, long[] pixelOf, long pixels)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(pixelOf);
        if (m.dim() != 2 || m.shape[0] != pixelOf.Length || m.shape[1] != pixelOf.Length)
            throw new ArgumentException($"matrix {ScanArguments.Fmt(m.shape)} does not match a route of {pixelOf.Length} positions.", nameof(m));
        var positions = new List<long>();
        var inverse = Enumerable.Repeat(-1L, checked((int)pixels)).ToArray();
        for (int t = 0; t < pixelOf.Length; t++)
        {
            long px = pixelOf[t];
            if (px < 0) continue;
            if (px >= pixels || inverse[px] >= 0)
                throw new ArgumentException($"route position {t} reads pixel {px}: not a permutation of 0..{pixels - 1}.", nameof(pixelOf));
            inverse[px] = positions.Count;
            positions.Add(t);
        }
        if (positions.Count != pixels)
            throw new ArgumentException($"the route reads {positions.Count} pixels; expected all {pixels}.", nameof(pixelOf));
        using var scope = NewDisposeScope();
        // Row/column i of the result is pixel i, i.e. route position positions[inverse[i]].
        var order = tensor(inverse.Select(i => positions[(int)i]).ToArray(), device: m.device);
        return m.index_select(0, order).index_select(1, order).MoveToOuterDisposeScope();
    }

    /// <summary>(x − min) / (max − min), or zeros for a constant matrix.</summary>
    public static Tensor MinMax(Tensor x)
    {
        using var scope = NewDisposeScope();
        double lo = x.min().item<double>(), hi = x.max().item<double>();
        var r = hi > lo ? x.PlusScalar(-lo).Over(hi - lo) : zeros_like(x);
        return r.MoveToOuterDisposeScope();
    }

    /// <summary>A length-(h·w) row-major vector as an h×w array.</summary>
    public static double[,] ToGrid(Tensor v, int h, int w)
    {
        var data = v.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        var g = new double[h, w];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) g[r, c] = data[r * w + c];
        return g;
    }
}
