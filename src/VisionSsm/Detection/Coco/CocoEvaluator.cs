using System.Globalization;
using System.Text;

namespace VisionSsm.Detection.Coco;

/// <summary>Which regions the evaluator compares: boxes or masks.</summary>
public enum CocoIouType { Bbox, Segm }

/// <summary>
/// The twelve COCO summary numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl) with the
/// per-threshold, per-category tables they average. −1 marks "no ground truth to score", as pycocotools prints.
/// </summary>
public sealed class CocoEvalResult
{
    public static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

    public CocoIouType IouType { get; init; }
    public double[] Stats { get; init; } = [];
    /// <summary>Precision [T=10, R=101, K, A=4, M=3] (−1 where a category has no ground truth).</summary>
    public double[,,,,] Precision { get; init; } = new double[0, 0, 0, 0, 0];
    /// <summary>Recall [T=10, K, A=4, M=3].</summary>
    public double[,,,] Recall { get; init; } = new double[0, 0, 0, 0];
    public IReadOnlyList<long> CategoryIds { get; init; } = [];

    public double this[string name] => Stats[Array.IndexOf(StatNames, name) is var i and >= 0 ? i
        : throw new KeyNotFoundException($"no statistic {name}; known: {string.Join(", ", StatNames)}")];

    /// <summary>The twelve lines in pycocotools' <c>summarize()</c> layout.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        string[] iou = ["0.50:0.95", "0.50", "0.75", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95"];
        string[] area = ["all", "all", "all", "small", "medium", "large", "all", "all", "all", "small", "medium", "large"];
        int[] dets = [100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100];
        for (int i = 0; i < 12; i++)
        {
            string title = i < 6 ? "Average Precision  (AP)" : "Average Recall     (AR)";
            sb.Append(CultureInfo.InvariantCulture, $" {title} @[ IoU={iou[i],-9} | area={area[i],6} | maxDets={dets[i],3} ] = {Stats[i]:0.000}\n");
        }
        return sb.ToString();
    }
}

/// <summary>
/// COCO detection evaluation with the semantics of pycocotools' <c>COCOeval</c> (<c>PythonAPI/pycocotools/cocoeval.py</c>)
/// for <c>iouType</c> "bbox" and "segm" with default parameters (docs/detection.md §6):
/// IoU thresholds 0.50:0.05:0.95, 101 recall points, maxDets 1/10/100, areas all / small (&lt; 32²) / medium / large
/// (&gt; 96²) judged on the ground truth's stored <c>area</c> and the detection's area; crowd ground truth is matched
/// with IoU = intersection / area(detection), may absorb any number of detections, and like out-of-range ground truth
/// neither counts as a positive nor penalises its matches. Detections are visited by decreasing score (stable sort,
/// as the reference's mergesort), greedily matched to the best still-free ground truth with IoU ≥ threshold, preferring
/// non-ignored ones. Precision is made monotone and read at each recall point (the first detection reaching it).
/// <para>One deliberate difference: pycocotools records matches by annotation id and treats id 0 as "unmatched", so
/// a ground-truth annotation with id 0 is mis-scored there; here matches are flags and every id is fine.</para>
/// </summary>
public static class CocoEvaluator
{
    const int T = 10, R = 101, A = 4;
    static readonly int[] MaxDets = [1, 10, 100];
    static readonly double[][] AreaRanges = [[0, 1e10], [0, 32 * 32], [32 * 32, 96 * 96], [96 * 96, 1e10]];
    const double Spacing1 = 2.220446049250313e-16; // numpy's spacing(1): the reference's guard against 0/0

    /// <summary>IoU thresholds as numpy's <c>linspace(.5, 0.95, 10)</c> computes them (i·step + start, last = stop).</summary>
    public static double[] IouThresholds()
    {
        double step = (0.95 - 0.5) / 9;
        var t = new double[T];
        for (int i = 0; i < T; i++) t[i] = i * step + 0.5;
        t[T - 1] = 0.95;
        return t;
    }

    /// <summary>Recall points as numpy's <c>linspace(0, 1, 101)</c>.</summary>
    public static double[] RecallThresholds()
    {
        double step = 1.0 / 100;
        var r = new double[R];
        for (int i = 0; i < R; i++) r[i] = i * step;
        r[R - 1] = 1.0;
        return r;
    }

    sealed class Gt(CocoAnnotation ann, Rle? mask)
    {
        public readonly CocoAnnotation Ann = ann;
        public readonly Rle? Mask = mask;
    }

    sealed record ImageEval(double[] Scores, bool[,] DtMatched, bool[,] DtIgnore, bool[] GtIgnore);

    public static CocoEvalResult Evaluate(CocoDataset groundTruth, IReadOnlyList<CocoDetection> detections, CocoIouType iouType)
    {
        var imgIds = groundTruth.Images.Select(i => i.Id).Distinct().OrderBy(i => i).ToArray();
        var catIds = groundTruth.Categories.Select(c => c.Id).OrderBy(i => i).ToArray();
        var gts = new Dictionary<(long, long), List<Gt>>();
        foreach (var a in groundTruth.Annotations)
        {
            Rle? mask = null;
            if (iouType == CocoIouType.Segm)
            {
                if (a.Segmentation is null) throw new CocoFormatException($"annotation {a.Id} has no segmentation; mask evaluation needs one for every ground-truth annotation");
                mask = a.ToRle(groundTruth.Image(a.ImageId));
            }
            Add(gts, (a.ImageId, a.CategoryId), new Gt(a, mask));
        }
        var dts = new Dictionary<(long, long), List<CocoDetection>>();
        foreach (var d in detections)
        {
            if (iouType == CocoIouType.Bbox && d.Bbox is null) throw new ArgumentException("box evaluation needs a bbox on every detection", nameof(detections));
            if (iouType == CocoIouType.Segm && d.Mask is null) throw new ArgumentException("mask evaluation needs a segmentation on every detection", nameof(detections));
            Add(dts, (d.ImageId, d.CategoryId), d);
        }

        var thr = IouThresholds();
        int maxDet = MaxDets[^1];
        // evalImgs[k][a][i]: per category, area range and image (null when neither ground truth nor detections).
        var evals = new ImageEval?[catIds.Length, A, imgIds.Length];
        for (int k = 0; k < catIds.Length; k++)
            for (int i = 0; i < imgIds.Length; i++)
            {
                var g = gts.GetValueOrDefault((imgIds[i], catIds[k])) ?? [];
                var d = dts.GetValueOrDefault((imgIds[i], catIds[k])) ?? [];
                if (g.Count == 0 && d.Count == 0) continue;
                var dSorted = d.OrderByDescending(x => x.Score).Take(maxDet).ToList(); // stable, as mergesort
                var ious = Ious(dSorted, g, iouType);
                for (int a = 0; a < A; a++) evals[k, a, i] = EvaluateImage(g, dSorted, ious, AreaRanges[a], thr);
            }

        var precision = new double[T, R, catIds.Length, A, MaxDets.Length];
        var recall = new double[T, catIds.Length, A, MaxDets.Length];
        Fill(precision, -1); Fill(recall, -1);
        var recThr = RecallThresholds();
        for (int k = 0; k < catIds.Length; k++)
            for (int a = 0; a < A; a++)
                for (int m = 0; m < MaxDets.Length; m++)
                    Accumulate(evals, k, a, m, MaxDets[m], imgIds.Length, recThr, precision, recall);

        var stats = new double[12];
        stats[0] = MeanPrecision(precision, null, 0, 2);
        stats[1] = MeanPrecision(precision, 0, 0, 2);
        stats[2] = MeanPrecision(precision, 5, 0, 2);
        stats[3] = MeanPrecision(precision, null, 1, 2);
        stats[4] = MeanPrecision(precision, null, 2, 2);
        stats[5] = MeanPrecision(precision, null, 3, 2);
        stats[6] = MeanRecall(recall, 0, 0);
        stats[7] = MeanRecall(recall, 0, 1);
        stats[8] = MeanRecall(recall, 0, 2);
        stats[9] = MeanRecall(recall, 1, 2);
        stats[10] = MeanRecall(recall, 2, 2);
        stats[11] = MeanRecall(recall, 3, 2);
        return new CocoEvalResult { IouType = iouType, Stats = stats, Precision = precision, Recall = recall, CategoryIds = catIds };
    }

    /// <summary>IoU [detection, ground truth] in the ground truth's file order.</summary>
    static double[,] Ious(List<CocoDetection> d, List<Gt> g, CocoIouType type)
    {
        var o = new double[d.Count, g.Count];
        for (int j = 0; j < g.Count; j++)
        {
            bool crowd = g[j].Ann.IsCrowd;
            for (int i = 0; i < d.Count; i++)
                o[i, j] = type == CocoIouType.Bbox ? BoxIou(d[i].Bbox!, g[j].Ann.Bbox, crowd)
                    : BoxIou(d[i].Mask!.ToBbox(), g[j].Mask!.ToBbox(), crowd) > 0 ? Rle.Iou(d[i].Mask!, g[j].Mask!, crowd) : 0;
        }
        return o;
    }

    /// <summary>pycocotools' <c>bbIou</c> on (x, y, w, h) boxes; crowd: intersection / area(detection).</summary>
    public static double BoxIou(double[] d, double[] g, bool crowd)
    {
        double w = Math.Min(d[2] + d[0], g[2] + g[0]) - Math.Max(d[0], g[0]);
        if (w <= 0) return 0;
        double h = Math.Min(d[3] + d[1], g[3] + g[1]) - Math.Max(d[1], g[1]);
        if (h <= 0) return 0;
        double i = w * h, da = d[2] * d[3], ga = g[2] * g[3];
        return i / (crowd ? da : da + ga - i);
    }

    static ImageEval EvaluateImage(List<Gt> gAll, List<CocoDetection> d, double[,] ious, double[] range, double[] thr)
    {
        int gn = gAll.Count, dn = d.Count;
        var ignore = gAll.Select(g => g.Ann.IsCrowd || g.Ann.Area < range[0] || g.Ann.Area > range[1]).ToArray();
        // Ground truth with ignored ones last (stable), so a detection prefers real objects.
        var order = Enumerable.Range(0, gn).OrderBy(j => ignore[j] ? 1 : 0).ToArray();
        var gtIg = order.Select(j => ignore[j]).ToArray();
        var crowd = order.Select(j => gAll[j].Ann.IsCrowd).ToArray();
        var gtm = new bool[T, gn];
        var dtm = new bool[T, dn];
        var dtIg = new bool[T, dn];
        if (gn > 0 && dn > 0)
            for (int t = 0; t < T; t++)
                for (int di = 0; di < dn; di++)
                {
                    double best = Math.Min(thr[t], 1 - 1e-10);
                    int m = -1;
                    for (int gi = 0; gi < gn; gi++)
                    {
                        if (gtm[t, gi] && !crowd[gi]) continue;
                        if (m > -1 && !gtIg[m] && gtIg[gi]) break;
                        double iou = ious[di, order[gi]];
                        if (iou < best) continue;
                        best = iou; m = gi;
                    }
                    if (m == -1) continue;
                    dtIg[t, di] = gtIg[m];
                    dtm[t, di] = true;
                    gtm[t, m] = true;
                }
        for (int di = 0; di < dn; di++)
        {
            bool outside = d[di].Area < range[0] || d[di].Area > range[1];
            for (int t = 0; t < T; t++) if (!dtm[t, di] && outside) dtIg[t, di] = true;
        }
        return new ImageEval(d.Select(x => x.Score).ToArray(), dtm, dtIg, gtIg);
    }

    static void Accumulate(ImageEval?[,,] evals, int k, int a, int m, int maxDet, int images, double[] recThr, double[,,,,] precision, double[,,,] recall)
    {
        var scores = new List<double>();
        var matched = new List<bool[]>();
        var ignored = new List<bool[]>();
        int npig = 0;
        bool any = false;
        for (int i = 0; i < images; i++)
        {
            var e = evals[k, a, i];
            if (e is null) continue;
            any = true;
            int n = Math.Min(maxDet, e.Scores.Length);
            for (int di = 0; di < n; di++)
            {
                scores.Add(e.Scores[di]);
                var mt = new bool[T]; var ig = new bool[T];
                for (int t = 0; t < T; t++) { mt[t] = e.DtMatched[t, di]; ig[t] = e.DtIgnore[t, di]; }
                matched.Add(mt); ignored.Add(ig);
            }
            npig += e.GtIgnore.Count(x => !x);
        }
        if (!any || npig == 0) return;
        var inds = Enumerable.Range(0, scores.Count).OrderByDescending(j => scores[j]).ToArray(); // stable
        int nd = inds.Length;
        for (int t = 0; t < T; t++)
        {
            var rc = new double[nd];
            var pr = new double[nd];
            double tp = 0, fp = 0;
            for (int j = 0; j < nd; j++)
            {
                int s = inds[j];
                if (!ignored[s][t]) { if (matched[s][t]) tp++; else fp++; }
                rc[j] = tp / npig;
                pr[j] = tp / (fp + tp + Spacing1);
            }
            recall[t, k, a, m] = nd > 0 ? rc[nd - 1] : 0;
            for (int j = nd - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
            for (int r = 0; r < R; r++)
            {
                int pi = LowerBound(rc, recThr[r]);
                precision[t, r, k, a, m] = pi < nd ? pr[pi] : 0;
            }
        }
    }

    /// <summary>numpy's <c>searchsorted(side='left')</c>: the first index with rc[i] ≥ v.</summary>
    static int LowerBound(double[] rc, double v)
    {
        int lo = 0, hi = rc.Length;
        while (lo < hi) { int mid = (lo + hi) >> 1; if (rc[mid] < v) lo = mid + 1; else hi = mid; }
        return lo;
    }

    static double MeanPrecision(double[,,,,] p, int? t, int a, int m)
    {
        double sum = 0; long n = 0;
        for (int ti = 0; ti < T; ti++)
        {
            if (t is int only && ti != only) continue;
            for (int r = 0; r < p.GetLength(1); r++)
                for (int k = 0; k < p.GetLength(2); k++)
                {
                    double v = p[ti, r, k, a, m];
                    if (v > -1) { sum += v; n++; }
                }
        }
        return n == 0 ? -1 : sum / n;
    }

    static double MeanRecall(double[,,,] rec, int a, int m)
    {
        double sum = 0; long n = 0;
        for (int t = 0; t < T; t++)
            for (int k = 0; k < rec.GetLength(1); k++)
            {
                double v = rec[t, k, a, m];
                if (v > -1) { sum += v; n++; }
            }
        return n == 0 ? -1 : sum / n;
    }

    static void Add<TK, TV>(Dictionary<TK, List<TV>> d, TK key, TV v) where TK : notnull
    {
        if (!d.TryGetValue(key, out var l)) d[key] = l = [];
        l.Add(v);
    }

    static void Fill(Array a, double v)
    {
        switch (a)
        {
            case double[,,,,] p5: for (int i = 0; i < p5.GetLength(0); i++) for (int j = 0; j < p5.GetLength(1); j++) for (int k = 0; k < p5.GetLength(2); k++) for (int l = 0; l < p5.GetLength(3); l++) for (int m = 0; m < p5.GetLength(4); m++) p5[i, j, k, l, m] = v; break;
            case double[,,,] p4: for (int i = 0; i < p4.GetLength(0); i++) for (int j = 0; j < p4.GetLength(1); j++) for (int k = 0; k < p4.GetLength(2); k++) for (int l = 0; l < p4.GetLength(3); l++) p4[i, j, k, l] = v; break;
        }
    }
}
