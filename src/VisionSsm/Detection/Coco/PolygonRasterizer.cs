namespace VisionSsm.Detection.Coco;

/// <summary>
/// Polygon to mask exactly as pycocotools' <c>rleFrPoly</c> (<c>common/maskApi.c</c>), so masks, areas and mask IoUs
/// agree with COCO's own tools to the pixel:
/// <list type="number">
/// <item>vertices are scaled by 5 and rounded (<c>(int)(5v + 0.5)</c>, C truncation), the polygon closed;</item>
/// <item>each edge is walked one upsampled unit at a time along its longer axis (points from the lower end, the other
/// coordinate rounded the same way), giving a dense boundary;</item>
/// <item>wherever the boundary's x changes, the crossing is mapped back to pixel column <c>xd = (x' + 0.5)/5 − 0.5</c>
/// (x' the smaller x, or the larger minus one); only integer columns inside the image count; the crossing row is
/// <c>ceil(clamp((y' + 0.5)/5 − 0.5, 0, H))</c> with y' the smaller y;</item>
/// <item>each crossing toggles inside/outside at column-major position <c>x·H + y</c>: sorted, differenced, and empty
/// runs folded away, these positions are the RLE counts.</item>
/// </list>
/// </summary>
public static class PolygonRasterizer
{
    const double Scale = 5;

    /// <summary>The mask of polygon <paramref name="xy"/> (x0, y0, x1, y1, …) in an image of the given size.</summary>
    public static Rle Rasterize(IReadOnlyList<double> xy, int height, int width)
    {
        if (xy.Count < 6 || xy.Count % 2 != 0)
            throw new ArgumentException($"a polygon needs an even number (>= 6) of coordinates, got {xy.Count}", nameof(xy));
        if (height < 0 || width < 0) throw new ArgumentOutOfRangeException(nameof(height), $"image size must be >= 0, got {height}x{width}");
        foreach (var v in xy)
            if (!double.IsFinite(v)) throw new ArgumentException($"polygon has a non-finite coordinate ({v})", nameof(xy));
        int k = xy.Count / 2;
        var x = new int[k + 1];
        var y = new int[k + 1];
        for (int j = 0; j < k; j++) { x[j] = (int)(Scale * xy[2 * j] + 0.5); y[j] = (int)(Scale * xy[2 * j + 1] + 0.5); }
        x[k] = x[0]; y[k] = y[0];

        var u = new List<int>();
        var v2 = new List<int>();
        for (int j = 0; j < k; j++)
        {
            int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
            int dx = Math.Abs(xe - xs), dy = Math.Abs(ys - ye);
            bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if (flip) { (xs, xe) = (xe, xs); (ys, ye) = (ye, ys); }
            double s = dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
            if (dx >= dy)
                for (int d = 0; d <= dx; d++) { int t = flip ? dx - d : d; u.Add(t + xs); v2.Add((int)(ys + s * t + 0.5)); }
            else
                for (int d = 0; d <= dy; d++) { int t = flip ? dy - d : d; v2.Add(t + ys); u.Add((int)(xs + s * t + 0.5)); }
        }

        var toggles = new List<uint>();
        for (int j = 1; j < u.Count; j++)
        {
            if (u[j] == u[j - 1]) continue;
            double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
            xd = (xd + 0.5) / Scale - 0.5;
            if (Math.Floor(xd) != xd || xd < 0 || xd > width - 1) continue;
            double yd = v2[j] < v2[j - 1] ? v2[j] : v2[j - 1];
            yd = (yd + 0.5) / Scale - 0.5;
            if (yd < 0) yd = 0; else if (yd > height) yd = height;
            yd = Math.Ceiling(yd);
            toggles.Add((uint)((int)xd * height + (int)yd));
        }
        toggles.Add((uint)(height * width));
        toggles.Sort();
        var a = new uint[toggles.Count];
        uint prev = 0;
        for (int j = 0; j < a.Length; j++) { a[j] = toggles[j] - prev; prev = toggles[j]; }
        // Two toggles at one position cancel: fold the empty run and the run after it into the previous run.
        var runs = new List<uint> { a[0] };
        for (int j = 1; j < a.Length;)
        {
            if (a[j] > 0) runs.Add(a[j++]);
            else { j++; if (j < a.Length) runs[^1] += a[j++]; }
        }
        return new Rle(height, width, runs);
    }
}
